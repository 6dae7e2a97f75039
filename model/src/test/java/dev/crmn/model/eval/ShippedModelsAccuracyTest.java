package dev.crmn.model.eval;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.model.data.ImageSet;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.testutil.TestData;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The accuracies the README states for the shipped models, on all 10,000 CIFAR-10 test images; needs the full set
 * (skipped with its reason on a clone that has only the sample; CI has it).
 */
class ShippedModelsAccuracyTest {

    static double accuracy(String model, ImageSet test) throws Exception {
        try (Classifier c = Classifier.load(Path.of("..", "models", model))) {
            return Evaluator.evaluate(c::probabilities, test, c.manifest().normalization(), c.layout(), 256).accuracy();
        }
    }

    @Test
    void shippedModelsScoreWhatTheReadmeSaysOnTheWholeTestSet() throws Exception {
        ImageSet test = ImageSet.load(List.of(TestData.full().resolve("test_batch.bin")), 0);
        assertThat(test.size()).isEqualTo(10_000);
        assertThat(accuracy("crmn-demo", test)).as("crmn-demo (README: 79.67 %)").isCloseTo(0.7967, org.assertj.core.data.Offset.offset(0.0005));
        assertThat(accuracy("crmn-demo-early", test)).as("crmn-demo-early (README: 52.48 %)").isCloseTo(0.5248, org.assertj.core.data.Offset.offset(0.0005));
    }

    @Test
    void onTheSampleTheShippedModelStillClassifiesMostImages() throws Exception {
        ImageSet sample = ImageSet.load(List.of(TestData.testBatch()), 0);
        assertThat(sample.size()).isEqualTo(1000);
        assertThat(accuracy("crmn-demo", sample)).as("crmn-demo on the sample's 1,000 test images").isBetween(0.74, 0.86);
    }
}
