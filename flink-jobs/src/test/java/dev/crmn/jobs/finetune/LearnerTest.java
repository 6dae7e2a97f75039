package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.perf.CpuFastPath;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The learner goes on across rounds on one base, starts again on a new one, and evaluates the base again only when
 * the base or the holdout changed (the shipped model, a few steps).
 */
class LearnerTest {

    @BeforeAll
    static void fastPath() {
        CpuFastPath.configure();
    }

    @Test
    void roundsGoOnAndTheBaseIsEvaluatedAgainOnlyWhenItOrTheHoldoutChanged() throws Exception {
        RoundSettings s = TrainingFramesTest.settings(20, 30, 200, 10, 1000);
        TrainingFrames frames = eightyFrames(s);
        Checkpoints.Loaded base = shipped();
        try (Learner learner = new Learner(s)) {
            Learner.Result r1 = learner.round(frames.plan(1, false, java.util.List.of()), base, 0, () -> false);
            assertThat(r1.candidate().steps()).isEqualTo(10);
            Learner.Result r2 = learner.round(frames.plan(2, true, java.util.List.of()), base, 0, () -> false);
            assertThat(r2.candidate().steps()).as("the same run went on").isEqualTo(20);
            assertThat(r2.baseEval()).as("same base, same holdout: not evaluated again").isSameAs(r1.baseEval());

            frames.offer(TrainingFramesTest.frame(TrainingFramesTest.firstHeld(1000, 30))); // the holdout grew
            Learner.Result r3 = learner.round(frames.plan(3, true, java.util.List.of()), base, 0, () -> false);
            assertThat(r3.baseEval()).isNotSameAs(r2.baseEval());
            assertThat(r3.baseEval().predictions()).hasSize(r2.baseEval().predictions().length + 1);

            Learner.Result r4 = learner.round(frames.plan(4, true, java.util.List.of()), base, 1, () -> false);
            assertThat(r4.candidate().steps()).as("another base generation: a new run").isEqualTo(10);
            r1.candidate().close();
            r2.candidate().close();
            r3.candidate().close();
            r4.candidate().close();
        } finally {
            Graphs.free(base.network());
        }
    }

    @Test
    void theDistillationSettingReachesTheLearnersRunAndItsCandidatesRecord() throws Exception {
        RoundSettings t = TrainingFramesTest.settings(20, 30, 200, 10, 1000);
        RoundSettings s = new RoundSettings(t.modelName(), t.storeUri(), null, null, t.roundFrames(), t.roundIntervalMs(),
                t.steps(), t.batchSize(), t.learningRate(), t.averageDecay(), t.holdoutPercent(), t.holdoutSize(),
                t.holdoutMaxUses(), t.reservoirSize(), t.threads(), t.labelledTopic(), null, t.gate(), t.patience(), null,
                false, 0.5);
        TrainingFrames frames = eightyFrames(s);
        Checkpoints.Loaded base = shipped();
        try (Learner learner = new Learner(s)) {
            Learner.Result r = learner.round(frames.plan(1, false, java.util.List.of()), base, 0, () -> false);
            assertThat(r.candidate().training()).containsEntry("distillation", 0.5);
            r.candidate().close();
        } finally {
            Graphs.free(base.network());
        }
    }

    private static TrainingFrames eightyFrames(RoundSettings s) {
        TrainingFrames frames = new TrainingFrames(s);
        for (int i = 0; i < 80; i++) {
            frames.offer(TrainingFramesTest.frame(i));
        }
        return frames;
    }

    private static Checkpoints.Loaded shipped() throws java.io.IOException {
        return Checkpoints.load(Path.of("..", "models", "crmn-demo"), true);
    }
}
