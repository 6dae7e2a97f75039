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
 * the base or the holdout changed, and not at all when the base is the candidate it just judged, promoted (the
 * shipped model, a few steps).
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
        try (Learner learner = new Learner(s, null, 1)) {
            Learner.Result r1 = learner.round(frames.plan(1, false, java.util.List.of()), base, 0, 0, () -> false);
            assertThat(r1.candidate().steps()).isEqualTo(10);
            Learner.Result r2 = learner.round(frames.plan(2, true, java.util.List.of()), base, 0, 0, () -> false);
            assertThat(r2.candidate().steps()).as("the same run went on").isEqualTo(20);
            assertThat(r2.baseEval()).as("same base, same holdout: not evaluated again").isSameAs(r1.baseEval());

            frames.offer(TrainingFramesTest.frame(TrainingFramesTest.firstHeld(1000, 30))); // the holdout grew
            Learner.Result r3 = learner.round(frames.plan(3, true, java.util.List.of()), base, 0, 0, () -> false);
            assertThat(r3.baseEval()).isNotSameAs(r2.baseEval());
            assertThat(r3.baseEval().predictions()).hasSize(r2.baseEval().predictions().length + 1);

            Learner.Result r4 = learner.round(frames.plan(4, true, java.util.List.of()), base, 1, 0, () -> false);
            assertThat(r4.candidate().steps()).as("another base generation: a new run").isEqualTo(10);

            // r4's candidate promoted: the next round's base, already evaluated on these holdout images
            Checkpoints.Loaded promoted = new Checkpoints.Loaded(null, base.manifest(), r4.candidate().network());
            Learner.Result r5 = learner.round(frames.plan(5, true, java.util.List.of()), promoted, 1, 0, () -> false);
            assertThat(r5.baseEval()).as("the promoted candidate's own holdout evaluation").isSameAs(r4.candidate().holdout());
            assertThat(r5.candidate().steps()).as("its learner goes on").isEqualTo(20);
            r1.candidate().close();
            r2.candidate().close();
            r3.candidate().close();
            r4.candidate().close();
            r5.candidate().close();
        } finally {
            Graphs.free(base.network());
        }
    }

    @Test
    void twoReplicasShareTheRoundsStepsAndTheCandidateSaysSo() throws Exception {
        RoundSettings s = TrainingFramesTest.settings(20, 30, 200, 10, 1000);
        TrainingFrames frames = eightyFrames(s);
        Checkpoints.Loaded base = shipped();
        java.util.List<Thread> replicaThreads;
        try (Learner learner = new Learner(s, null, 2)) {
            Learner.Result r = learner.round(frames.plan(1, false, java.util.List.of()), base, 0, 0, () -> false);
            assertThat(r.candidate().steps()).isEqualTo(10);
            assertThat(r.candidate().training()).containsEntry("replicas", 2);
            assertThat(r.candidate().holdout().accuracy()).isBetween(0.0, 1.0);
            r.candidate().close();
            replicaThreads = replicaThreads();
            assertThat(replicaThreads).isNotEmpty();
            Learner.Result r2 = learner.round(frames.plan(2, true, java.util.List.of()), base, 1, 0, () -> false);
            assertThat(r2.candidate().steps()).as("another base generation: a new run").isEqualTo(10);
            r2.candidate().close();
            assertThat(replicaThreads()).as("the new run on the same replica thread").containsAll(replicaThreads);
        } finally {
            Graphs.free(base.network());
        }
        for (Thread t : replicaThreads) {
            t.join(10_000);
            assertThat(t.isAlive()).as("closed with the learner").isFalse();
        }
    }

    private static java.util.List<Thread> replicaThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .filter(t -> t.getName().startsWith("crmn-train-replica-")).toList();
    }

    @Test
    void aCandidateProgressedWhenItIsAheadInAccuracyOrInLossAndNotWhenBehindInBoth() {
        dev.crmn.model.eval.EvaluationReport promoted = report(0.8031, 0.610); // a lucky draw in accuracy
        assertThat(Learner.progressed(promoted, report(0.8000, 0.598))).as("behind in accuracy, lower loss").isTrue();
        assertThat(Learner.progressed(promoted, report(0.8036, 0.615))).as("ahead in accuracy").isTrue();
        assertThat(Learner.progressed(promoted, report(0.7969, 0.622))).as("behind in both").isFalse();
        assertThat(Learner.progressed(promoted, report(0.8031, 0.610))).as("level in both").isFalse();
    }

    private static dev.crmn.model.eval.EvaluationReport report(double accuracy, double loss) {
        return new dev.crmn.model.eval.EvaluationReport(1940, accuracy, 0.99, loss, java.util.List.of(), new double[0],
                new long[0][0], new int[0], new double[0]);
    }

    @Test
    void theDistillationSettingReachesTheLearnersRunAndItsCandidatesRecord() throws Exception {
        RoundSettings s = settings(null, 0.5);
        TrainingFrames frames = eightyFrames(s);
        Checkpoints.Loaded base = shipped();
        try (Learner learner = new Learner(s, null, 1)) {
            Learner.Result r = learner.round(frames.plan(1, false, java.util.List.of()), base, 0, 0, () -> false);
            assertThat(r.candidate().training()).containsEntry("distillation", 0.5);
            r.candidate().close();
        } finally {
            Graphs.free(base.network());
        }
    }

    @Test
    void withAnAnchorEachCandidateIsCheckedForForgettingAgainstTheReferenceTheBaseCarriesOrHasItself() throws Exception {
        Anchor anchor = new Anchor(java.util.List.of(AnchorTest.SAMPLE.toString()), 50, 0.2, 60, 1.0);
        RoundSettings s = settings(anchor, 0);
        TrainingFrames frames = eightyFrames(s);
        Checkpoints.Loaded base = shipped();
        Anchor.Images images = anchor.load(base.manifest());
        double baseAccuracy = dev.crmn.model.eval.Evaluator.evaluate(base.network(),
                TrainingFrames.imageSet(images.check(), base.manifest(), "check"), base.manifest().normalization(),
                org.deeplearning4j.nn.conf.CNN2DFormat.valueOf(base.manifest().input().layout()), 64).accuracy();
        try (Learner learner = new Learner(s, images, 1)) {
            Learner.Result r = learner.round(frames.plan(1, false, images.train()), base, 0, 0, () -> false);
            Learner.Forgetting f = r.forgetting();
            assertThat(f.images()).isEqualTo(60);
            assertThat(f.reference()).as("a base with no record: its own accuracy on the check").isEqualTo(baseAccuracy);
            assertThat(f.maxPoints()).isEqualTo(1.0);
            assertThat(r.candidate().training().get(Learner.ANCHOR_CHECK)).isEqualTo(f.record(images.checkDigest()));
            r.candidate().close();

            // a version this job promoted carries the reference it was checked against: a run from it keeps it
            Checkpoints.Loaded promoted = new Checkpoints.Loaded(null, base.manifest().toBuilder().training(java.util.Map.of(
                    Learner.ANCHOR_CHECK, java.util.Map.of("digest", images.checkDigest(), "reference_accuracy", 0.99)))
                    .build(), base.network());
            Learner.Result again = learner.round(frames.plan(2, true, images.train()), promoted, 1, 0, () -> false);
            assertThat(again.forgetting().reference()).isEqualTo(0.99);
            assertThat(again.forgetting().forgot()).as("%s", again.forgetting()).isTrue();
            again.candidate().close();

            Checkpoints.Loaded other = new Checkpoints.Loaded(null, base.manifest().toBuilder().training(java.util.Map.of(
                    Learner.ANCHOR_CHECK, java.util.Map.of("digest", "60-other", "reference_accuracy", 0.99)))
                    .build(), base.network());
            Learner.Result elsewhere = learner.round(frames.plan(3, true, images.train()), other, 2, 0, () -> false);
            assertThat(elsewhere.forgetting().reference()).as("checked on other images: not this check's reference")
                    .isEqualTo(baseAccuracy);
            elsewhere.candidate().close();

            Learner.Result leaning = learner.round(frames.plan(4, true, images.train()), base, 2, 1, () -> false);
            assertThat(leaning.candidate().steps()).as("after a forgetting: a new run").isEqualTo(10);
            assertThat(leaning.candidate().training()).containsEntry("distillation", 0.5);
            leaning.candidate().close();
            Learner.Result more = learner.round(frames.plan(5, true, images.train()), base, 2, 2, () -> false);
            assertThat(more.candidate().steps()).as("a second: a new run, leaning more").isEqualTo(10);
            assertThat(more.candidate().training()).containsEntry("distillation", 0.75);
            more.candidate().close();
            Learner.Result on = learner.round(frames.plan(6, true, images.train()), base, 2, 3, () -> false);
            assertThat(on.candidate().steps()).as("at the highest weight the run goes on").isEqualTo(20);
            on.candidate().close();
        } finally {
            Graphs.free(base.network());
        }
    }

    @Test
    void eachForgettingLeansTheNextRunMoreOnTheVersionItStartsFromUpToThreeQuarters() {
        assertThat(Learner.distillation(0, 0)).isEqualTo(0);
        assertThat(Learner.distillation(0, 1)).isEqualTo(0.5);
        assertThat(Learner.distillation(0, 2)).isEqualTo(0.75);
        assertThat(Learner.distillation(0, 7)).isEqualTo(0.75);
        assertThat(Learner.distillation(0.6, 1)).as("never below --distillation").isEqualTo(0.6);
        assertThat(Learner.distillation(0.9, 3)).isEqualTo(0.9);
    }

    @Test
    void aCandidateThatForgetsIsRefusedWhateverTheHoldoutSaysAndTheStatisticIsKept() {
        PromotionGate gate = new PromotionGate(0.05, 0, 10);
        int[] labels = new int[40];
        int[] base = new int[40];
        int[] better = new int[40];
        for (int i = 0; i < 40; i++) {
            base[i] = i < 20 ? 0 : 1;
            better[i] = 0;
        }
        PromotionGate.Decision promoted = gate.decide(labels, base, better);
        assertThat(promoted.promoted()).isTrue();
        Learner.Forgetting forgot = new Learner.Forgetting(0.785, 0.80, 2000, 1.0);
        PromotionGate.Decision refused = forgot.judge(promoted);
        assertThat(refused.decision()).isEqualTo("refused");
        assertThat(refused.reason()).startsWith(promoted.reason()).contains("forgets: 78.50 % on 2000 held-out anchor images,"
                + " 1.50 points below the 80.00 % of the version fine-tuning started from (--max-forgetting 1.00)");
        assertThat(refused.pValue()).isEqualTo(promoted.pValue());
        assertThat(new Learner.Forgetting(0.795, 0.80, 2000, 1.0).judge(promoted)).as("within the bound").isSameAs(promoted);
        PromotionGate.Decision notBetter = gate.decide(labels, better, base);
        assertThat(forgot.judge(notBetter)).as("a refusal stays as it was").isSameAs(notBetter);
    }

    /** The small rounds of these tests, with {@code anchor} (or none) and a distillation weight. */
    private static RoundSettings settings(Anchor anchor, double distillation) {
        RoundSettings t = TrainingFramesTest.settings(20, 30, 200, 10, 1000);
        return new RoundSettings(t.modelName(), t.storeUri(), null, null, t.roundFrames(), t.roundIntervalMs(), t.steps(),
                t.batchSize(), t.learningRate(), t.averageDecay(), t.holdoutPercent(), t.holdoutSize(), t.holdoutMaxUses(),
                t.reservoirSize(), t.threads(), t.labelledTopic(), null, t.gate(), t.patience(), anchor, false, distillation, 0, 0);
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
