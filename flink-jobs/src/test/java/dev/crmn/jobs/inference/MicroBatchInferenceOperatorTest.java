package dev.crmn.jobs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.PixelImage;
import dev.crmn.jobs.testutil.StateFixtures;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inference operator's processing, on Flink's operator test harness with the shipped model (no broker, no
 * MiniCluster): when a batch is classified (full, by its deadline, before a checkpoint barrier), and how a version
 * announced on the second input is loaded on the loader thread and swapped in through the mailbox, or refused.
 */
class MicroBatchInferenceOperatorTest {

    static final Path SHIPPED = Path.of("..", "models", "crmn-demo");

    @TempDir
    static Path dir;
    static ModelStore store;
    static ModelRef v1;
    static ModelRef v2;

    private AbstractStreamOperatorTestHarness<Prediction> harness;
    private TwoInputStreamOperator<DecodedFrame, ModelUpdate, Prediction> op;
    private long offset;

    @BeforeAll
    static void publish() throws Exception {
        store = new ModelStore(dir.resolve("store").toString());
        v1 = store.publish(SHIPPED);
        v2 = store.publish(copy(2, m -> m));
    }

    /** The shipped weights as {@code version}, its manifest changed by {@code edit}. */
    static Path copy(long version, UnaryOperator<Manifest.Builder> edit) throws Exception {
        Path d = Files.createDirectories(dir.resolve("local-v" + version));
        Files.copy(SHIPPED.resolve(Checkpoints.MODEL), d.resolve(Checkpoints.MODEL));
        Manifest m = Checkpoints.readManifest(SHIPPED.resolve(Checkpoints.MANIFEST));
        Checkpoints.writeManifest(d.resolve(Checkpoints.MANIFEST), edit.apply(m.toBuilder().version(version)).build());
        return d;
    }

    @BeforeEach
    void open() throws Exception {
        open(1.0);
    }

    /** The operator with {@code --shadow-fraction} {@code shadowFraction}, batches of 4 and a 50 ms deadline. */
    @SuppressWarnings("unchecked")
    private void open(double shadowFraction) throws Exception {
        InferenceSettings settings = new InferenceSettings(v1, ModelLoader.Expected.of(Checkpoints.readManifest(
                SHIPPED.resolve(Checkpoints.MANIFEST))), 4, 50, 1, 1, null, dir.resolve("cache").toString(), "cpu", null,
                true, shadowFraction);
        harness = new AbstractStreamOperatorTestHarness<>(new MicroBatchInferenceOperatorFactory(settings), 1, 1, 0);
        harness.setup();
        harness.open();
        op = (TwoInputStreamOperator<DecodedFrame, ModelUpdate, Prediction>) harness.getOperator();
    }

    @AfterEach
    void close() throws Exception {
        harness.close();
    }

    private void frame() throws Exception {
        long o = offset++;
        op.processElement1(new StreamRecord<>(new DecodedFrame("f-" + o, null, "frames", 0, o, 0, 0, -1,
                new PixelImage(32, 32, 3, StateFixtures.pixels((int) o)), null)));
    }

    /** The predictions emitted since the last call. */
    private List<Prediction> emitted() {
        List<Prediction> out = new ArrayList<>();
        for (Object o : harness.getOutput()) {
            if (o instanceof StreamRecord<?> r && r.getValue() instanceof Prediction p) {
                out.add(p);
            }
        }
        harness.getOutput().clear();
        return out;
    }

    @Test
    void aBatchIsClassifiedWhenFullByItsDeadlineAndBeforeABarrier() throws Exception {
        for (int i = 0; i < 3; i++) {
            frame();
        }
        assertThat(emitted()).as("3 of a batch of 4: waiting").isEmpty();
        frame();
        assertThat(emitted()).extracting(Prediction::frameId).containsExactly("f-0", "f-1", "f-2", "f-3");

        frame();
        harness.setProcessingTime(harness.getProcessingTime() + 49);
        assertThat(emitted()).isEmpty();
        harness.setProcessingTime(harness.getProcessingTime() + 1); // its deadline (--max-delay-ms 50)
        assertThat(emitted()).extracting(Prediction::frameId).containsExactly("f-4");

        frame();
        harness.prepareSnapshotPreBarrier(1); // nothing stays buffered across a checkpoint
        assertThat(emitted()).extracting(Prediction::frameId).containsExactly("f-5");
        harness.setProcessingTime(harness.getProcessingTime() + 100);
        assertThat(emitted()).as("a flushed buffer's timer does nothing").isEmpty();
    }

    /** The shadow predictions emitted so far. */
    private List<Prediction> shadowed() {
        List<Prediction> out = new ArrayList<>();
        var side = harness.getSideOutput(MicroBatchInferenceOperator.SHADOW_PREDICTIONS);
        if (side != null) {
            side.forEach(r -> out.add(r.getValue()));
            side.clear();
        }
        return out;
    }

    @Test
    void aShadowFractionScoresThatShareOfTheBatchesSpreadEvenly() throws Exception {
        harness.close();
        open(0.25);
        op.processElement2(new StreamRecord<>(ModelUpdate.shadow(v2, "candidate")));
        harness.getTaskMailbox().take(0).run();
        for (int i = 0; i < 32; i++) { // 8 batches of 4
            frame();
        }
        assertThat(emitted()).hasSize(32);
        assertThat(shadowed()).as("2 of the 8 batches").hasSize(8);
    }

    @Test
    void aShadowIsScoredOnTheSameFramesNeverServedThenServedAtOnceOrRejected() throws Exception {
        op.processElement2(new StreamRecord<>(ModelUpdate.shadow(v2, "candidate")));
        harness.getTaskMailbox().take(0).run(); // loaded beside v1
        for (int i = 0; i < 4; i++) {
            frame();
        }
        List<Prediction> served = emitted();
        assertThat(served).hasSize(4).allMatch(p -> p.model().version() == 1);
        List<Prediction> shadow = shadowed();
        assertThat(shadow).hasSize(4).allMatch(p -> p.model().version() == 2);
        assertThat(shadow).extracting(Prediction::frameId).containsExactlyElementsOf(served.stream().map(Prediction::frameId)
                .toList());
        // the shadow is announced to serve: it serves from the next batch, nothing to load
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v2)));
        assertThat(harness.getTaskMailbox().hasMail()).isFalse();
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).hasSize(4).allMatch(p -> p.model().version() == 2);
        assertThat(shadowed()).as("no shadow any more").isEmpty();

        // a newer shadow rejected: no longer scored, never served though announced afterwards
        ModelRef v9 = store.publish(copy(9, b -> b));
        op.processElement2(new StreamRecord<>(ModelUpdate.shadow(v9, "candidate")));
        harness.getTaskMailbox().take(0).run();
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(shadowed()).hasSize(4).allMatch(p -> p.model().version() == 9);
        emitted();
        op.processElement2(new StreamRecord<>(ModelUpdate.reject(v9, "worse")));
        op.processElement2(new StreamRecord<>(ModelUpdate.shadow(v9, "again")));
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(shadowed()).isEmpty();
        assertThat(emitted()).hasSize(4).allMatch(p -> p.model().version() == 2);
    }

    @Test
    void anAnnouncedVersionIsSwappedInThroughTheMailboxAndABadOneRefused() throws Exception {
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v2)));
        harness.getTaskMailbox().take(0).run(); // the loader's result: the swap, between two batches
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).allMatch(p -> p.model().version() == 2).hasSize(4);

        // a version for other classes cannot serve this job's frames: refused, v2 keeps serving
        List<String> otherClasses = new ArrayList<>(v1Labels());
        java.util.Collections.reverse(otherClasses);
        ModelRef v3 = store.publish(copy(3, b -> b.labels(otherClasses)));
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v3)));
        harness.getTaskMailbox().take(0).run(); // the refusal
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).allMatch(p -> p.model().version() == 2).hasSize(4);

        // a refusal does not block later versions
        ModelRef v4 = store.publish(copy(4, b -> b));
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v4)));
        harness.getTaskMailbox().take(0).run();
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).allMatch(p -> p.model().version() == 4).hasSize(4);
        // a version its store marks rolled back is never served again
        ModelRef v5 = store.publish(copy(5, b -> b));
        store.recordStatus(v5, dev.crmn.connectors.store.ModelStatus.ROLLED_BACK, "worse on live labels");
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v5)));
        harness.getTaskMailbox().take(0).run(); // the refusal
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).allMatch(p -> p.model().version() == 4).hasSize(4);
        // an older or repeated announcement is ignored: nothing is loaded, no mail comes
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v2)));
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v4)));
        assertThat(harness.getTaskMailbox().hasMail()).isFalse();
    }

    @Test
    void aRollbackGoesBackToTheOlderVersionAndTheRolledBackOneIsNeverServedAgain() throws Exception {
        ModelRef v6 = store.publish(copy(6, b -> b));
        ModelRef v7 = store.publish(copy(7, b -> b));
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v6)));
        harness.getTaskMailbox().take(0).run();
        op.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 6, "worse on live labels")));
        harness.getTaskMailbox().take(0).run(); // the older version, loaded and swapped in: not blocked by "v6 seen"
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).allMatch(p -> p.model().version() == 1).hasSize(4);
        // the rolled-back version announced again: ignored; a replayed rollback: nothing to do
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v6)));
        op.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 6, "replayed")));
        assertThat(harness.getTaskMailbox().hasMail()).isFalse();
        // a newer version still serves when it comes
        op.processElement2(new StreamRecord<>(ModelUpdate.serve(v7)));
        harness.getTaskMailbox().take(0).run();
        // and a rollback of a version this subtask never served (v6 < v7 serving) changes nothing
        op.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 6, "late")));
        assertThat(harness.getTaskMailbox().hasMail()).isFalse();
        for (int i = 0; i < 4; i++) {
            frame();
        }
        assertThat(emitted()).allMatch(p -> p.model().version() == 7).hasSize(4);
    }

    private static List<String> v1Labels() throws Exception {
        return Checkpoints.readManifest(SHIPPED.resolve(Checkpoints.MANIFEST)).labels();
    }
}
