package dev.crmn.model.eval;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.data.Normalization;
import dev.crmn.model.data.PixelImage;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.junit.jupiter.api.Test;

/** Accuracy, top-5, loss and the confusion matrix on a case computed by hand. */
class EvaluatorTest {

    @Test
    void metricsOfAHandComputedCase() {
        // 6 classes; 4 images with labels 0, 1, 2, 5; the "network" returns these rows in order
        float[][] rows = {
                {0.50f, 0.10f, 0.10f, 0.10f, 0.10f, 0.10f},  // label 0: right
                {0.40f, 0.20f, 0.10f, 0.10f, 0.10f, 0.10f},  // label 1: predicted 0, rank 1 -> in top 5
                {0.05f, 0.30f, 0.25f, 0.20f, 0.15f, 0.05f},  // label 2: predicted 1, rank 1
                {0.30f, 0.25f, 0.20f, 0.15f, 0.09f, 0.01f}}; // label 5: predicted 0, rank 5 -> outside top 5
        int[] labels = {0, 1, 2, 5};
        List<LabelledImage> images = new ArrayList<>();
        for (int label : labels) {
            images.add(new LabelledImage(new PixelImage(1, 1, 1, new byte[]{0}), label));
        }
        ImageSet set = ImageSet.of(images, List.of("a", "b", "c", "d", "e", "f"), 1, 1, 1, "hand");
        int[] call = {0};
        EvaluationReport r = Evaluator.evaluate(x -> {
            float[][] out = new float[(int) x.size(0)][];
            for (int i = 0; i < out.length; i++) {
                out[i] = rows[call[0]++];
            }
            return out;
        }, set, new Normalization(new float[]{0}, new float[]{1}), CNN2DFormat.NHWC, 3); // batches of 3 and 1
        assertThat(r.images()).isEqualTo(4);
        assertThat(r.accuracy()).isEqualTo(0.25);
        assertThat(r.top5()).isEqualTo(0.75);
        double loss = -(Math.log(0.5) + Math.log(0.2) + Math.log(0.25) + Math.log(0.01)) / 4;
        assertThat(r.loss()).isCloseTo(loss, within(1e-6));
        assertThat(r.confusion()[0][0]).isEqualTo(1);
        assertThat(r.confusion()[1][0]).isEqualTo(1);
        assertThat(r.confusion()[2][1]).isEqualTo(1);
        assertThat(r.confusion()[5][0]).isEqualTo(1);
        assertThat(java.util.Arrays.stream(r.confusion()).flatMapToLong(java.util.Arrays::stream).sum()).isEqualTo(4);
        assertThat(r.perClass()[0]).isEqualTo(1.0);
        assertThat(r.perClass()[1]).isEqualTo(0.0);
        assertThat(r.perClass()[3]).isNaN(); // no image of class d
    }
}
