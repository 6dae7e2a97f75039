package dev.crmn.model.train;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.testutil.TestData;
import java.util.List;
import org.junit.jupiter.api.Test;

class OverfitTest {

    @Test
    void crmnTinyMemorisesAFewHundredRealImages() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.trainBatch1()), 256);
        TrainingSettings s = TrainingSettings.builder().epochs(40).batchSize(32).learningRate(0.05).weightDecay(0)
                .augment(false).holdout(0).warmupFraction(0).seed(1).build();
        Trainer.Result r = new Trainer(s, null, null).train(Presets.get("crmn-tiny"), "overfit", "crmn-tiny", set);
        EvaluationReport train = Evaluator.evaluate(r.network(), set, r.manifest().normalization(), s.layout(), 128);
        assertThat(train.accuracy()).as("training accuracy after %d epochs", r.history().size()).isGreaterThanOrEqualTo(0.95);
        assertThat(r.history()).hasSize(40);
        assertThat(r.history().get(39).trainLoss()).isLessThan(r.history().get(0).trainLoss());
        assertThat(r.manifest().training()).containsEntry("iterations", 40L * 8);
    }
}
