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
}
