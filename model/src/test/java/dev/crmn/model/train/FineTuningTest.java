package dev.crmn.model.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.testutil.TestData;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

class FineTuningTest {

    @TempDir
    static Path dir;
    static Checkpoints.Loaded base;
    static ImageSet fresh;
    static ImageSet holdout;

    @BeforeAll
    static void baseModel() throws Exception {
        ImageSet data = ImageSet.load(List.of(TestData.trainBatch1()), 160);
        TrainingSettings s = TrainingSettings.builder().epochs(1).batchSize(32).holdout(32).build();
        Trainer.Result r = new Trainer(s, null, null).train(Presets.get("crmn-tiny"), "tiny", "crmn-tiny", data);
        Checkpoints.write(dir.resolve("base"), r.network(), r.manifest());
        base = Checkpoints.load(dir.resolve("base"), true);
        ImageSet more = ImageSet.load(List.of(TestData.testBatch()), 96);
        ImageSet[] split = more.split(32, 1);
        fresh = split[0];
        holdout = split[1];
    }

    private static FineTuneSettings steps(long n) {
        return FineTuneSettings.builder().steps(n).batchSize(16).build();
    }

    @Test
    void aFineTuneOfSStepsTrainsSStepsOnACopyAndNamesItsBase() {
        INDArray before = base.network().params().dup();
        INDArray updaterState = base.network().getUpdater().getStateViewArray().dup();
        assertThat(updaterState.amaxNumber().doubleValue()).as("the base has momentum to continue from").isGreaterThan(0);
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, steps(5))) {
            assertThat(run.run(100, () -> false)).isEqualTo(5);
            assertThat(run.finished()).isTrue();
            assertThat(run.run(100, () -> false)).as("no step beyond the planned ones").isZero();
            try (FineTuning.Candidate c = run.finish(holdout, Map.of("offsets", "frames-labelled-0:0-63"))) {
                assertThat(c.steps()).isEqualTo(5);
                assertThat(c.network().getIterationCount() - base.network().getIterationCount()).isEqualTo(5);
                assertThat(c.network().params().sub(before).amaxNumber().doubleValue()).as("weights moved").isGreaterThan(1e-4);
                assertThat(base.network().params()).as("the base is untouched").isEqualTo(before);
                assertThat(base.network().getUpdater().getStateViewArray()).isEqualTo(updaterState);
                assertThat(c.holdout().images()).isEqualTo(holdout.size());
                Manifest m = c.manifest(7);
                assertThat(m.version()).isEqualTo(7);
                assertThat(m.parentVersion()).isEqualTo(base.manifest().version());
                assertThat(m.parentSha256()).isEqualTo(base.manifest().sha256());
                assertThat(m.training()).containsEntry("mode", "fine-tune").containsEntry("steps", 5L)
                        .containsEntry("offsets", "frames-labelled-0:0-63");
                assertThat(m.metrics()).containsKeys("holdout_accuracy", "holdout_loss");
                assertThat(m.normalization()).isEqualTo(base.manifest().normalization());
                assertThatThrownBy(() -> c.manifest(base.manifest().version()))
                        .isInstanceOf(IllegalArgumentException.class);
            }
        }
    }

    @Test
    void aFineTuneStopsBetweenStepsWhenAskedOrInterrupted() {
        AtomicInteger polls = new AtomicInteger();
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, steps(50))) {
            assertThat(run.run(100, () -> polls.incrementAndGet() > 3)).isEqualTo(3);
            assertThat(run.stepsDone()).isEqualTo(3);
            assertThat(run.finished()).isFalse();
            Thread.currentThread().interrupt();
            try {
                assertThat(run.run(100, () -> false)).as("interrupted: no step").isZero();
            } finally {
                Thread.interrupted();
            }
            assertThat(run.run(2, () -> false)).as("a bounded slice").isEqualTo(2);
            try (FineTuning.Candidate c = run.finish(null, Map.of())) {
                assertThat(c.steps()).isEqualTo(5);
                assertThat(c.manifest(2).training()).containsEntry("steps_planned", 50L);
            }
        }
    }

    @Test
    void aFineTuneThatTrainedNothingIsAnErrorNotACandidate() {
        assertThatThrownBy(() -> FineTuneSettings.builder().steps(0).build()).isInstanceOf(IllegalArgumentException.class);
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, steps(5))) {
            assertThat(run.run(5, () -> true)).isZero();
            assertThatThrownBy(() -> run.finish(holdout, Map.of())).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("no step");
        }
    }

    @Test
    void dataOfOtherClassesIsRefused() {
        ImageSet other = fresh.withClassNames(dev.crmn.model.data.CifarBinaryReader.placeholderNames(10));
        assertThatThrownBy(() -> FineTuning.start(base.manifest(), base.network(), other, steps(1)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("classes");
    }

    private static FineTuneSettings learner(long n, double decay) {
        return FineTuneSettings.builder().steps(n).batchSize(16).schedule(FineTuneSettings.Schedule.CONSTANT)
                .learningRate(0.05).warmupFraction(0.2).averageDecay(decay).build();
    }

    @Test
    void theConstantScheduleWarmsUpThenHoldsTheRate() {
        FineTuneSettings s = learner(10, 0.998);
        assertThat(s.learningRateAt(0)).isCloseTo(0.005, org.assertj.core.data.Offset.offset(1e-12));
        assertThat(s.learningRateAt(2)).isEqualTo(0.05);
        assertThat(s.learningRateAt(9)).isEqualTo(0.05);
        assertThat(s.learningRateAt(1000)).as("it goes on past its planned steps").isEqualTo(0.05);
        assertThatThrownBy(() -> FineTuneSettings.builder().steps(1).averageDecay(1).build())
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aLearnerGoesOnAcrossRoundsAndEachSnapshotIsTheWeightAverageAsAFineTuneOfTheServingVersion() {
        INDArray before = base.network().params().dup();
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, learner(4, 0.5))) {
            run.run(100, () -> false);
            assertThat(run.finished()).isTrue();
            Manifest serving = base.manifest().toBuilder().version(3).build();
            try (FineTuning.Candidate c = run.snapshot(serving, holdout, Map.of("round", 1))) {
                assertThat(c.steps()).isEqualTo(4);
                assertThat(c.manifest(4).parentVersion()).as("the version serving now is the parent").isEqualTo(3);
                assertThat(c.manifest(4).training()).containsEntry("run_started_from_version", base.manifest().version())
                        .containsEntry("schedule", "constant").containsEntry("weight_average_decay", 0.5);
                assertThat(c.network().params().sub(before).amaxNumber().doubleValue()).as("the average moved")
                        .isGreaterThan(1e-5);
                assertThat(c.holdout().accuracy()).isEqualTo(run.evaluate(holdout, true).accuracy());
            }
            run.continueOn(holdout, 3); // other data: the run goes on from where it was
            assertThat(run.finished()).isFalse();
            assertThat(run.run(100, () -> false)).isEqualTo(3);
            assertThat(run.stepsDone()).isEqualTo(7);
            try (FineTuning.Candidate c = run.snapshot(base.manifest(), holdout, Map.of())) {
                assertThat(c.steps()).isEqualTo(7);
                assertThat(c.training()).doesNotContainKey("run_started_from_version");
            }
            assertThatThrownBy(() -> run.continueOn(fresh, 0)).isInstanceOf(IllegalArgumentException.class);
        }
        assertThat(base.network().params()).as("the base is untouched").isEqualTo(before);
    }

    @Test
    void distillationKeepsTheRunNearerTheBasesPredictionsThanItsLabelsAlone() {
        // every image labelled one class above what the base predicts: the labels pull the network away from the base
        INDArray baseProbs = probabilities(base.network(), fresh);
        List<dev.crmn.model.data.LabelledImage> relabelled = new java.util.ArrayList<>();
        for (int i = 0; i < fresh.size(); i++) {
            int predicted = baseProbs.getRow(i).argMax().getInt(0);
            relabelled.add(new dev.crmn.model.data.LabelledImage(fresh.image(i), (predicted + 1) % 10));
        }
        ImageSet wrong = ImageSet.of(relabelled, fresh.classNames(), fresh.height(), fresh.width(), fresh.channels(),
                "relabelled");
        double plain = meanProbabilityOfLabels(trained(
                FineTuneSettings.builder().steps(12).batchSize(16).learningRate(0.05).build(), wrong), wrong);
        double distilled = meanProbabilityOfLabels(trained(
                FineTuneSettings.builder().steps(12).batchSize(16).learningRate(0.05).distillation(0.9).build(), wrong), wrong);
        assertThat(distilled).as("the labels' pull, distilled towards the base (labels alone: %.3f, the base: %.3f)",
                plain, meanProbabilityOfLabels(baseProbs, wrong)).isLessThan(plain - 0.02);
        assertThatThrownBy(() -> FineTuneSettings.builder().steps(1).distillation(1).build())
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void labelSmoothingPullsThePredictionsTowardsUniformAndCutoutIsRecorded() {
        double plain = meanProbabilityOfLabels(trained(
                FineTuneSettings.builder().steps(12).batchSize(16).learningRate(0.05).build(), fresh), fresh);
        double smoothed = meanProbabilityOfLabels(trained(FineTuneSettings.builder().steps(12).batchSize(16)
                .learningRate(0.05).labelSmoothing(0.9).cutout(8).build(), fresh), fresh);
        assertThat(smoothed).as("targets 0.9 uniform hold the labels' probability down (labels alone: %.3f)", plain)
                .isLessThan(plain - 0.02);
        assertThatThrownBy(() -> FineTuneSettings.builder().steps(1).labelSmoothing(1).build())
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> FineTuneSettings.builder().steps(1).cutout(-1).build())
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void aScaledLearningRateAppliesFromTheNextStepAndIsRecorded() {
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, learner(4, 0.998))) {
            run.run(4, () -> false);
            String layer = base.network().getLayer(0).conf().getLayer().getLayerName();
            assertThat(run.learningRateScale()).isEqualTo(1.0);
            run.scaleLearningRate(0.5);
            run.scaleLearningRate(0.5);
            run.continueOn(fresh, 1);
            run.run(1, () -> false);
            try (FineTuning.Candidate c = run.snapshot(base.manifest(), null, Map.of())) {
                assertThat(c.network().getLearningRate(layer)).isCloseTo(0.05 * 0.25, org.assertj.core.data.Offset.offset(1e-9));
                assertThat(c.training()).containsEntry("learning_rate_scale", 0.25);
            }
            assertThatThrownBy(() -> run.scaleLearningRate(0)).isInstanceOf(IllegalArgumentException.class);
        }
    }

    /** The softmax outputs of the network a run of {@code s} on {@code data} ends with. */
    private static INDArray trained(FineTuneSettings s, ImageSet data) {
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), data, s)) {
            run.run(100, () -> false);
            try (FineTuning.Candidate c = run.finish(null, Map.of())) {
                assertThat(c.training().containsKey("distillation")).isEqualTo(s.distilling());
                assertThat(c.training().get("cutout")).isEqualTo(s.cutout() > 0 ? s.cutout() : null);
                return probabilities(c.network(), data);
            }
        }
    }

    private static INDArray probabilities(org.deeplearning4j.nn.graph.ComputationGraph net, ImageSet data) {
        int[] all = java.util.stream.IntStream.range(0, data.size()).toArray();
        try (INDArray x = dev.crmn.model.data.Batches.features(data, all, base.manifest().normalization(),
                org.deeplearning4j.nn.conf.CNN2DFormat.valueOf(base.manifest().input().layout()), null)) {
            return net.outputSingle(false, x).detach();
        }
    }

    private static double meanProbabilityOfLabels(INDArray probs, ImageSet data) {
        double sum = 0;
        for (int i = 0; i < data.size(); i++) {
            sum += probs.getDouble(i, data.label(i));
        }
        return sum / data.size();
    }

    @Test
    void replicasShareEveryStepOfARunAndTheCandidateKeepsNoneOfThem() {
        FineTuneSettings s = FineTuneSettings.builder().steps(3).batchSize(16).replicas(2).distillation(0.5)
                .schedule(FineTuneSettings.Schedule.CONSTANT).averageDecay(0.9).build();
        int listeners = base.network().getListeners().size();
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, s)) {
            assertThat(run.run(100, () -> false)).isEqualTo(3);
            assertThat(run.sharedSteps()).isEqualTo(3);
            assertThat(run.meanLoss()).isFinite();
            try (FineTuning.Candidate snap = run.snapshot(base.manifest(), holdout, Map.of())) {
                assertThat(snap.training()).containsEntry("replicas", 2);
            }
            run.continueOn(fresh, 2);
            assertThat(run.run(100, () -> false)).isEqualTo(2);
            assertThat(run.sharedSteps()).isEqualTo(5);
            try (FineTuning.Candidate c = run.finish(holdout, Map.of())) {
                assertThat(c.network().getListeners()).hasSize(listeners);
                assertThat(c.holdout().images()).isEqualTo(holdout.size());
            }
        }
        assertThatThrownBy(() -> FineTuneSettings.builder().steps(1).replicas(0).build())
                .isInstanceOf(IllegalArgumentException.class);
        try (ReplicaThreads two = ReplicaThreads.start(2)) {
            assertThatThrownBy(() -> FineTuning.start(base.manifest(), base.network(), fresh, s, two))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 replica thread(s) for 2 replicas");
        }
    }

    @Test
    void onlyARunAtAConstantRateGoesOn() {
        try (FineTuning run = FineTuning.start(base.manifest(), base.network(), fresh, steps(2))) {
            run.run(100, () -> false);
            assertThatThrownBy(() -> run.continueOn(fresh, 2)).isInstanceOf(IllegalStateException.class)
                    .hasMessageContaining("COSINE");
        }
    }

    @Test
    void aVersionSavedWithTheClonesMemoryOrderLoadsComputingWhatTheOriginalDoes() throws Exception {
        var net = base.network();
        var clone = net.clone(); // what builds before Graphs.copy saved: the memory's reshape order 'c'
        Checkpoints.write(dir.resolve("saved-from-clone"), clone, base.manifest());
        dev.crmn.model.graph.Graphs.free(clone);
        var raw = org.deeplearning4j.util.ModelSerializer.restoreComputationGraph(
                dir.resolve("saved-from-clone").resolve(Checkpoints.MODEL).toFile(), false);
        assertThat(((org.deeplearning4j.nn.conf.graph.ReshapeVertex) raw.getConfiguration().getVertices()
                .get(dev.crmn.model.graph.CrmnGraphBuilder.MEMORY_SEQUENCE)).getReshapeOrder())
                .as("saved as builds before Graphs.copy saved").isEqualTo('c');
        dev.crmn.model.graph.Graphs.free(raw);
        var loaded = Checkpoints.load(dir.resolve("saved-from-clone"), false);
        try {
            var layout = org.deeplearning4j.nn.conf.CNN2DFormat.valueOf(base.manifest().input().layout());
            int[] idx = java.util.stream.IntStream.range(0, 16).toArray();
            try (INDArray x = dev.crmn.model.data.Batches.features(holdout, idx, base.manifest().normalization(), layout, null);
                 INDArray expected = net.outputSingle(false, x);
                 INDArray got = loaded.network().outputSingle(false, x)) {
                assertThat(got.equalsWithEps(expected, 1e-6)).as("outputs of the loaded version").isTrue();
            }
        } finally {
            dev.crmn.model.graph.Graphs.free(loaded.network());
        }
    }

    @Test
    void aCopyOfTheNetworkComputesWhatTheOriginalDoesAndDl4jsCloneDoesNot() {
        var net = base.network();
        var copy = dev.crmn.model.graph.Graphs.copy(net);
        var clone = net.clone();
        try {
            assertThat(copy.getConfiguration().toJson()).isEqualTo(net.getConfiguration().toJson());
            assertThat(copy.getIterationCount()).isEqualTo(net.getIterationCount());
            assertThat(copy.getUpdater().getStateViewArray()).isEqualTo(net.getUpdater().getStateViewArray());
            var layout = org.deeplearning4j.nn.conf.CNN2DFormat.valueOf(base.manifest().input().layout());
            int[] idx = java.util.stream.IntStream.range(0, 16).toArray();
            try (INDArray x = dev.crmn.model.data.Batches.features(holdout, idx, base.manifest().normalization(), layout, null);
                 INDArray expected = net.outputSingle(false, x);
                 INDArray fromCopy = copy.outputSingle(false, x);
                 INDArray fromClone = clone.outputSingle(false, x)) {
                assertThat(fromCopy.equalsWithEps(expected, 1e-6)).as("the copy's outputs").isTrue();
                // the reason for Graphs.copy: DL4J's clone() loses the memory's reshape order (if this starts to
                // fail, DL4J fixed its ReshapeVertex.clone() and copy() could go back to clone())
                assertThat(fromClone.equalsWithEps(expected, 1e-6)).as("DL4J clone's outputs").isFalse();
            }
        } finally {
            dev.crmn.model.graph.Graphs.free(copy);
            dev.crmn.model.graph.Graphs.free(clone);
        }
    }
}
