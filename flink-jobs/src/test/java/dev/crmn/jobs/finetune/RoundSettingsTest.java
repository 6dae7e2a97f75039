package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** A setting out of range is refused when the job is planned, in one line naming its option and value. */
class RoundSettingsTest {

    private static RoundSettings settings(int patience, int holdoutPercent, double averageDecay) {
        return new RoundSettings("crmn-demo", "/unused", null, null, 100, 60_000, 10, 8, 0.01, averageDecay,
                holdoutPercent, 100, 10, 1000, 1, "frames-labelled", null, new PromotionGate(0.05, 0.5, 5), patience,
                null);
    }

    @Test
    void eachSettingOutOfRangeIsNamedWithItsValue() {
        assertThatThrownBy(() -> settings(-1, 10, 0.998)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--patience -1: must be 0 (no rounds over the reservoir while the stream is quiet) or more");
        assertThatThrownBy(() -> settings(3, 0, 0.998)).hasMessage("--holdout-percent 0: must be 1 to 50");
        assertThatThrownBy(() -> settings(3, 51, 0.998)).hasMessage("--holdout-percent 51: must be 1 to 50");
        assertThatThrownBy(() -> settings(3, 10, 1.0)).hasMessage("--average-decay 1.0: must be in [0, 1) (0: no average)");
        settings(0, 50, 0); // the edges are accepted
    }

    /** Batch {@code batch}, {@code --threads threads}, {@code --replicas replicas}. */
    private static RoundSettings learner(int batch, int threads, int replicas) {
        return new RoundSettings("crmn-demo", "/unused", null, null, 100, 60_000, 10, batch, 0.01, 0.998, 10, 100, 10,
                1000, threads, "frames-labelled", null, new PromotionGate(0.05, 0.5, 5), 3, null, false, 0, 0, replicas);
    }

    @Test
    void theLearnerGetsOneReplicaPerThreadUpToBatchOver32AndEachItsShareOfTheThreads() {
        assertThat(learner(64, 0, 0).learnerThreads(2)).isEqualTo(new RoundSettings.LearnerThreads(2, 1));
        assertThat(learner(64, 0, 0).learnerThreads(1)).as("one core: one network").isEqualTo(new RoundSettings.LearnerThreads(1, 1));
        assertThat(learner(64, 0, 0).learnerThreads(16)).as("at most batch / 32").isEqualTo(new RoundSettings.LearnerThreads(2, 8));
        assertThat(learner(128, 0, 0).learnerThreads(3)).as("a divisor of the batch").isEqualTo(new RoundSettings.LearnerThreads(2, 1));
        assertThat(learner(96, 0, 0).learnerThreads(3)).isEqualTo(new RoundSettings.LearnerThreads(3, 1));
        assertThat(learner(16, 0, 0).learnerThreads(4)).as("a small batch: one network").isEqualTo(new RoundSettings.LearnerThreads(1, 4));
        assertThat(learner(64, 1, 0).learnerThreads(8)).as("--threads 1").isEqualTo(new RoundSettings.LearnerThreads(1, 1));
        assertThat(learner(64, 4, 0).learnerThreads(2)).as("--threads over the cores").isEqualTo(new RoundSettings.LearnerThreads(2, 2));
        assertThat(learner(64, 0, 1).learnerThreads(2)).as("--replicas 1: one network, every thread")
                .isEqualTo(new RoundSettings.LearnerThreads(1, 2));
        assertThat(learner(64, 0, 4).learnerThreads(2)).as("more replicas than threads: one thread each")
                .isEqualTo(new RoundSettings.LearnerThreads(4, 1));
        assertThatThrownBy(() -> learner(64, 0, 3)).hasMessage(
                "--replicas 3: must be a divisor of --batch-size 64 (each replica trains an equal share of a step)");
        assertThatThrownBy(() -> learner(64, 0, -1)).hasMessage("--replicas -1: must be 0 (chosen from the threads) or more");
        assertThatThrownBy(() -> learner(64, -2, 0)).hasMessage("--threads -2: must be 0 (all cores) or more");
    }

    @Test
    void theGatesSettingsToo() {
        assertThatThrownBy(() -> new PromotionGate(0, 0.5, 100)).hasMessage("--significance 0.0: must be in (0, 1)");
        assertThatThrownBy(() -> new PromotionGate(0.05, -1, 100)).hasMessage("--margin -1.0: must be 0 or more points");
        assertThatThrownBy(() -> new PromotionGate(0.05, 0.5, 0)).hasMessage("--min-holdout 0: must be 1 or more images");
    }
}
