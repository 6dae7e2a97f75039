package dev.crmn.model.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.crmn.model.testutil.TestData;
import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class BatchesTest {

    @Test
    void normalisationStatisticsMatchADirectComputation() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 200);
        Normalization n = Normalization.compute(set);
        double sum = 0;
        int count = 0;
        for (int i = 0; i < set.size(); i++) {
            for (int k = 1; k < 32 * 32 * 3; k += 3) { // green
                sum += set.pixel(i, k) / 255.0;
                count++;
            }
        }
        assertThat((double) n.mean()[1]).isCloseTo(sum / count, within(1e-4));
        assertThat(n.std()[0]).isBetween(0.1f, 0.4f);
    }

    @Test
    void featuresAreNormalisedInBothLayoutsAndAugmentationShiftsOrFlips() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 4);
        Normalization n = Normalization.compute(set);
        int[] idx = {0, 1, 2, 3};
        INDArray nhwc = Batches.features(set, idx, n, CNN2DFormat.NHWC, null);
        INDArray nchw = Batches.features(set, idx, n, CNN2DFormat.NCHW, null);
        assertThat(nhwc.shape()).containsExactly(4, 32, 32, 3);
        assertThat(nchw.shape()).containsExactly(4, 3, 32, 32);
        float expected = n.apply(set.image(2).value(5, 7, 1), 1);
        assertThat(nhwc.getFloat(2, 5, 7, 1)).isEqualTo(expected);
        assertThat(nchw.getFloat(2, 1, 5, 7)).isEqualTo(expected);
        INDArray aug = Batches.features(set, idx, n, CNN2DFormat.NHWC, new Random(3));
        assertThat(aug.shape()).containsExactly(4, 32, 32, 3);
        assertThat(aug.equals(nhwc)).isFalse();
        INDArray labels = Batches.oneHot(set, idx);
        assertThat(labels.getFloat(0, set.label(0))).isEqualTo(1f);
        assertThat(labels.sumNumber().intValue()).isEqualTo(4);
    }

    @Test
    void augmentationIsARandomCropOfThePaddedImageAndAHorizontalFlip() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 8);
        Normalization n = Normalization.compute(set);
        int[] idx = {0, 1, 2, 3, 4, 5, 6, 7};
        INDArray aug = Batches.features(set, idx, n, CNN2DFormat.NHWC, new Random(11));
        Random same = new Random(11); // the draws Batches makes, in its order: dy, dx, flip per image
        boolean flipped = false, shifted = false;
        for (int b = 0; b < idx.length; b++) {
            int dy = same.nextInt(2 * Batches.PAD + 1) - Batches.PAD;
            int dx = same.nextInt(2 * Batches.PAD + 1) - Batches.PAD;
            boolean flip = same.nextBoolean();
            flipped |= flip;
            shifted |= dy != 0 || dx != 0;
            PixelImage img = set.image(idx[b]);
            for (int y = 0; y < 32; y++) {
                for (int x = 0; x < 32; x++) {
                    int sy = y + dy;
                    int sx = (flip ? 31 - x : x) + dx;
                    for (int c = 0; c < 3; c++) {
                        float expected = sy >= 0 && sy < 32 && sx >= 0 && sx < 32 ? n.apply(img.value(sy, sx, c), c)
                                : n.apply(0, c); // padding is black before normalisation
                        assertThat(aug.getFloat(b, y, x, c)).as("image %d (dy %d, dx %d, flip %s) at %d,%d,%d", b, dy, dx,
                                flip, y, x, c).isEqualTo(expected);
                    }
                }
            }
        }
        assertThat(flipped).as("some image flipped").isTrue();
        assertThat(shifted).as("some image shifted").isTrue();
    }

    @Test
    void cutoutZeroesASquareAnywhereOnTheImageAndKeepsTheRestOfTheAugmentation() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 16);
        Normalization n = Normalization.compute(set);
        int[] idx = new int[16];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        INDArray cut = Batches.features(set, idx, n, CNN2DFormat.NHWC, new Random(5), 8);
        Random same = new Random(5); // per image: dy, dx, flip, then the square's centre row and column
        boolean clipped = false;
        for (int b = 0; b < idx.length; b++) {
            int dy = same.nextInt(2 * Batches.PAD + 1) - Batches.PAD;
            int dx = same.nextInt(2 * Batches.PAD + 1) - Batches.PAD;
            boolean flip = same.nextBoolean();
            PixelImage img = set.image(idx[b]);
            int cy = same.nextInt(32), cx = same.nextInt(32);
            clipped |= cy < 4 || cx < 4 || cy > 27 || cx > 27;
            int zeroed = 0;
            for (int y = 0; y < 32; y++) {
                for (int x = 0; x < 32; x++) {
                    boolean inSquare = y >= cy - 4 && y < cy + 4 && x >= cx - 4 && x < cx + 4;
                    int sy = y + dy;
                    int sx = (flip ? 31 - x : x) + dx;
                    for (int c = 0; c < 3; c++) {
                        float v = cut.getFloat(b, y, x, c);
                        if (inSquare) {
                            assertThat(v).as("image %d at %d,%d,%d inside the square at %d,%d", b, y, x, c, cy, cx)
                                    .isEqualTo(0f);
                            zeroed++;
                        } else {
                            float expected = sy >= 0 && sy < 32 && sx >= 0 && sx < 32 ? n.apply(img.value(sy, sx, c), c)
                                    : n.apply(0, c);
                            assertThat(v).as("image %d at %d,%d,%d", b, y, x, c).isEqualTo(expected);
                        }
                    }
                }
            }
            assertThat(zeroed).isBetween(3, 8 * 8 * 3);
        }
        assertThat(clipped).as("some square cut by the border").isTrue();
        assertThat(Batches.features(set, idx, n, CNN2DFormat.NHWC, null, 8).equals(
                Batches.features(set, idx, n, CNN2DFormat.NHWC, null))).as("no cutout without augmentation").isTrue();
    }
}
