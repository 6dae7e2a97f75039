package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.testutil.StateFixtures;
import dev.crmn.model.data.PixelImage;
import java.nio.file.Path;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The trainer's processing on Flink's operator test harness with the shipped model (no broker, no MiniCluster):
 * frames split between holdout and training by their pixels, a round starts after {@code --round-frames} new
 * training frames, runs on the trainer thread and is judged on the task thread when its mail runs; the frames
 * it used are no longer new.
 */
class TrainerOperatorTest {

    @TempDir
    Path dir;

    /** The shipped weights as version {@code version} (a copy with its manifest renumbered). */
    private Path shippedAs(long version) throws Exception {
        Path copy = java.nio.file.Files.createDirectories(dir.resolve("v" + version));
        java.nio.file.Files.copy(Path.of("..", "models", "crmn-demo", "model.zip"), copy.resolve("model.zip"));
        dev.crmn.model.checkpoint.Checkpoints.writeManifest(copy.resolve("manifest.json"), dev.crmn.model.checkpoint.Checkpoints
                .readManifest(Path.of("..", "models", "crmn-demo", "manifest.json")).toBuilder().version(version).build());
        return copy;
    }

    @Test
    @org.junit.jupiter.api.Timeout(300) // a round that never starts would leave the mailbox empty: fail, not hang
    @SuppressWarnings("unchecked")
    void aRoundStartsAfterItsFramesRunsOffTheTaskThreadAndIsJudgedOnIt() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        store.publish(Path.of("..", "models", "crmn-demo"));
        RoundSettings settings = new RoundSettings("crmn-demo", store.root().toString(), null, dir.resolve("cache").toString(),
                40, 600_000, 2, 8, 0.01, 0.9, 30, 100, 10, 200, 1, "frames-labelled", null,
                new PromotionGate(0.05, 0.5, 5), 3, null);
        try (FineTuneRounds.Collector reports = FineTuneRounds.collect();
             AbstractStreamOperatorTestHarness<ModelRef> h = new AbstractStreamOperatorTestHarness<>(
                     new TrainerOperatorFactory(settings), 1, 1, 0)) {
            h.setup();
            h.open();
            TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> op =
                    (TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef>) h.getOperator();
            int training = 0;
            int held = 0;
            for (int i = 0; training < 40; i++) {
                byte[] px = StateFixtures.pixels(i);
                if (TrainingFrames.inHoldout(px, 30)) {
                    held++;
                } else {
                    training++;
                }
                op.processElement1(new StreamRecord<>(new DecodedFrame("f-" + i, null, "frames-labelled", 0, i, 0, 0,
                        i % 10, new PixelImage(32, 32, 3, px), null)));
            }
            assertThat(reports.all()).as("the round runs on the trainer thread; nothing is judged yet").isEmpty();
            h.getTaskMailbox().take(0).run(); // the round's result, judged on the task thread
            assertThat(reports.all()).hasSize(1);
            RoundReport r = reports.all().get(0);
            assertThat(r.newFrames()).isEqualTo(40);
            assertThat(r.holdoutImages()).isEqualTo(held);
            assertThat(r.steps()).isEqualTo(2);
            assertThat(r.decision()).isIn("promoted", "refused");
            assertThat(r.baseAccuracy()).isBetween(0.0, 1.0);
            assertThat(r.baseLoss()).isPositive().isFinite();
            assertThat(r.candidateLoss()).isPositive().isFinite();
            assertThat(r.countsTowardPatience()).as("said for a refusal, not for a promotion").isEqualTo(r.promoted()
                    ? null : !(r.candidateAccuracy() > r.baseAccuracy() || r.candidateLoss() < r.baseLoss()));
            // no new frame: the next round goes over the reservoir at once, not at the next interval check (the
            // harness's processing time stands still, so no timer could have started it)
            h.getTaskMailbox().take(0).run();
            assertThat(reports.all()).hasSize(2);
            assertThat(reports.all().get(1).newFrames()).as("a round over the reservoir").isZero();
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aRollbackOfTheBaseMakesTheOlderVersionTheBaseOfTheNextRounds() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        ModelRef v1 = store.publish(Path.of("..", "models", "crmn-demo"));
        ModelRef v2 = store.publish(shippedAs(2));
        RoundSettings settings = new RoundSettings("crmn-demo", store.root().toString(), null, dir.resolve("cache").toString(),
                40, 600_000, 2, 8, 0.01, 0.9, 30, 100, 10, 200, 1, "frames-labelled", null,
                new PromotionGate(0.05, 50, 5), 3, null); // a 50-point margin: nothing is promoted
        try (FineTuneRounds.Collector reports = FineTuneRounds.collect();
             AbstractStreamOperatorTestHarness<ModelRef> h = new AbstractStreamOperatorTestHarness<>(
                     new TrainerOperatorFactory(settings), 1, 1, 0)) {
            h.setup();
            h.open(); // starts from the store's latest: v2
            TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> op =
                    (TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef>) h.getOperator();
            op.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 2, "worse on live labels")));
            h.getTaskMailbox().take(0).run(); // v1 loaded on the trainer thread, adopted on the task thread
            int training = 0;
            for (int i = 0; training < 40; i++) {
                byte[] px = StateFixtures.pixels(1000 + i);
                training += TrainingFrames.inHoldout(px, 30) ? 0 : 1;
                op.processElement1(new StreamRecord<>(new DecodedFrame("f-" + i, null, "frames-labelled", 0, i, 0, 0,
                        i % 10, new PixelImage(32, 32, 3, px), null)));
            }
            h.getTaskMailbox().take(0).run();
            assertThat(reports.all()).hasSize(1);
            assertThat(reports.all().get(0).baseVersion()).as("the round ran on the version rolled back to").isEqualTo(1);
            // a rollback of a version this job never built on (v2 is not its base now) changes nothing
            op.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 2, "replayed")));
            assertThat(h.getTaskMailbox().hasMail()).isFalse();
        }
    }

    /**
     * A number announced elsewhere is taken whether or not the job adopts it (a version rolled back before the round
     * ended is never adopted): the next promotion is numbered above it, not renumbered when published.
     */
    @Test
    @SuppressWarnings("unchecked")
    void versionsAnnouncedElsewhereRaiseTheNextNumberEvenWhenNotAdopted() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        ModelRef v1 = store.publish(Path.of("..", "models", "crmn-demo"));
        RoundSettings settings = new RoundSettings("crmn-demo", store.root().toString(), null, dir.resolve("cache").toString(),
                40, 600_000, 2, 8, 0.01, 0.9, 30, 100, 10, 200, 1, "frames-labelled", null,
                new PromotionGate(0.05, 0.5, 5), 3, null);
        try (AbstractStreamOperatorTestHarness<ModelRef> h = new AbstractStreamOperatorTestHarness<>(
                new TrainerOperatorFactory(settings), 1, 1, 0)) {
            h.setup();
            h.open();
            TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> op =
                    (TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef>) h.getOperator();
            ModelRef v7 = new ModelRef(v1.schema(), v1.name(), 7, v1.uri().replace("/v1", "/v7"), v1.sha256(), v1.metrics(),
                    null, null, v1.publishedAt());
            op.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 9, "rolled back elsewhere")));
            assertThat(((TrainerOperator) op).restored().lastVersion()).isEqualTo(9);
            op.processElement2(new StreamRecord<>(ModelUpdate.shadow(v7, "a candidate"))); // not served: not a base
            assertThat(h.getTaskMailbox().hasMail()).as("nothing loaded for a shadow").isFalse();
            op.processElement2(new StreamRecord<>(ModelUpdate.serve(v7))); // not in the store: its adoption fails
            h.getTaskMailbox().take(0).run();
            assertThat(((TrainerOperator) op).restored().base()).as("still its own base").isEqualTo(v1);
            assertThat(((TrainerOperator) op).restored().lastVersion()).isEqualTo(9);
        }
    }

    /** Its base rejected as a shadow (a --shadow promotion the quality job rejected): the serving version is the base. */
    @Test
    @SuppressWarnings("unchecked")
    void aRejectedBaseGivesWayToTheServingVersion() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        ModelRef v1 = store.publish(Path.of("..", "models", "crmn-demo"));
        store.recordServing(v1, "test");
        ModelRef v2 = store.publish(shippedAs(2));
        RoundSettings settings = new RoundSettings("crmn-demo", store.root().toString(), null, dir.resolve("cache").toString(),
                40, 600_000, 2, 8, 0.01, 0.9, 30, 100, 10, 200, 1, "frames-labelled", null,
                new PromotionGate(0.05, 0.5, 5), 3, null, true, 0, 0, 0);
        try (AbstractStreamOperatorTestHarness<ModelRef> h = new AbstractStreamOperatorTestHarness<>(
                new TrainerOperatorFactory(settings), 1, 1, 0)) {
            h.setup();
            h.open(); // starts from the store's latest: v2, a shadow of this job's, say
            TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> op =
                    (TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef>) h.getOperator();
            assertThat(((TrainerOperator) op).restored().base()).isEqualTo(v2);
            op.processElement2(new StreamRecord<>(ModelUpdate.reject(v2, "worse on live traffic")));
            h.getTaskMailbox().take(0).run(); // the serving version, loaded on the trainer thread
            assertThat(((TrainerOperator) op).restored().base()).isEqualTo(v1);
        }
    }

    /**
     * Catching up is bounded: a first start against a topic holding a million labelled frames (the job's default
     * sizes) keeps four rounds of new frames, a full reservoir and a full holdout, and its checkpoints stop growing
     * once those are full. Prints the measurement (docs/finetune.md).
     */
    @Test
    @SuppressWarnings("unchecked")
    void aMillionFramesOfBacklogKeepTheStateAndItsCheckpointsBounded() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        store.publish(Path.of("..", "models", "crmn-demo"));
        RoundSettings settings = new RoundSettings("crmn-demo", store.root().toString(), null, dir.resolve("cache").toString(),
                2000, 600_000, 150, 64, 0.01, 0.998, 10, 2000, 10, 20000, 1, "frames-labelled", null,
                new PromotionGate(0.05, 0.5, 100), 3, null); // the defaults of crmn finetune
        java.util.Map<Integer, Long> stateBytes = new java.util.TreeMap<>();
        java.util.Map<Integer, Long> heapBytes = new java.util.TreeMap<>();
        try (FineTuneRounds.Collector reports = FineTuneRounds.collect();
             AbstractStreamOperatorTestHarness<ModelRef> h = new AbstractStreamOperatorTestHarness<>(
                     new TrainerOperatorFactory(settings), 1, 1, 0)) {
            h.setCheckpointStorage(new org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage(
                    dir.resolve("checkpoints").toUri()));
            h.setup();
            h.open();
            TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> op =
                    (TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef>) h.getOperator();
            java.util.Set<Integer> at = java.util.Set.of(10_000, 100_000, 250_000, 500_000, 750_000, 1_000_000);
            for (int i = 1; i <= 1_000_000; i++) {
                op.processElement1(new StreamRecord<>(new DecodedFrame("f-" + i, null, "frames-labelled", i % 4, i, 0, 0,
                        i % 10, new PixelImage(32, 32, 3, TrainingFramesTest.pixels(i)), null)));
                if (at.contains(i)) {
                    stateBytes.put(i, h.snapshot(i, i).getStateSize());
                    Runtime rt = Runtime.getRuntime();
                    System.gc();
                    heapBytes.put(i, rt.totalMemory() - rt.freeMemory());
                }
            }
            TrainerOperator.Restored s = ((TrainerOperator) op).restored();
            assertThat(s.newFrames()).hasSize(4 * 2000);
            assertThat(s.reservoir()).hasSize(20000);
            assertThat(s.reservoirSeen()).as("every training frame went through the reservoir").isGreaterThan(850_000);
            assertThat(s.holdout()).hasSize(2000);
            assertThat(reports.all()).as("one round started (it runs on the trainer thread; never judged here)").isEmpty();
        }
        System.out.printf("frames offered | checkpoint (state) bytes | heap after GC%n");
        stateBytes.forEach((n, b) -> System.out.printf("%,d | %,d | %,d%n", n, b, heapBytes.get(n)));
        long full = stateBytes.get(100_000);
        for (int n : java.util.List.of(250_000, 500_000, 750_000, 1_000_000)) {
            assertThat(stateBytes.get(n)).as("state at %,d frames against 100,000", n).isBetween(full - full / 100,
                    full + full / 100);
        }
    }
}
