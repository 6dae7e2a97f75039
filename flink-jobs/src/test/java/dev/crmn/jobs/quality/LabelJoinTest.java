package dev.crmn.jobs.quality;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.model.infer.ClassScore;
import java.nio.file.Path;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Predictions meet their labels: in the header, late, early, too late, or naming no class (keyed harness). */
class LabelJoinTest {

    @TempDir
    Path dir;

    private KeyedTwoInputStreamOperatorTestHarness<String, PredictionRead, LabelRecord, Scored> h;

    @BeforeEach
    void open() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        store.publish(Path.of("..", "models", "crmn-demo"));
        h = new KeyedTwoInputStreamOperatorTestHarness<>(new KeyedCoProcessOperator<>(new LabelJoin(10_000, 1_000,
                new StoreOptions.Location(store.root().toString(), null, null))), r -> r.prediction().frameId(),
                LabelRecord::frameId, Types.STRING);
        h.setCheckpointStorage(new org.apache.flink.runtime.state.storage.FileSystemCheckpointStorage(
                dir.resolve("checkpoints").toUri()));
        h.open();
    }

    static PredictionRead prediction(String frameId, int predicted, Integer label) {
        return new PredictionRead(servingPrediction(frameId, predicted, label), false);
    }

    static PredictionRead shadowPrediction(String frameId, int predicted, Integer label) {
        Prediction p = servingPrediction(frameId, predicted, label);
        return new PredictionRead(new Prediction(p.schema(), p.frameId(), p.key(), p.source(), p.topK(),
                new Prediction.ModelInfo("crmn-demo", 2, "sha2"), p.batchSize(), p.timings(), p.eventTime(), p.label(),
                p.producedAt()), true);
    }

    static Prediction servingPrediction(String frameId, int predicted, Integer label) {
        return new Prediction(1, frameId, null, new Prediction.Source("frames", 0, 0),
                new ClassScore[]{new ClassScore(predicted, "c" + predicted, 0.9f)},
                new Prediction.ModelInfo("crmn-demo", 1, "sha"), 1, new Prediction.Timings(0, 0, 0), null, label, 0);
    }

    static LabelRecord label(String frameId, String label) {
        return new LabelRecord(frameId, label, "labels", 0, 7);
    }

    @Test
    void aHeaderLabelScoresAtOnceAndALateOneJoinsItsPredictionEitherWayRound() throws Exception {
        h.setProcessingTime(1000);
        h.processElement1(new StreamRecord<>(prediction("a", 3, 3)));
        h.processElement1(new StreamRecord<>(prediction("b", 3, null)));
        h.processElement2(new StreamRecord<>(label("b", "cat"))); // cat is class 3
        h.processElement2(new StreamRecord<>(label("c", "5"))); // before its prediction
        h.processElement1(new StreamRecord<>(prediction("c", 3, null)));
        assertThat(h.extractOutputValues()).containsExactly(
                Scored.serving("crmn-demo", 1, "sha", true, true, 1000, "a"),
                Scored.serving("crmn-demo", 1, "sha", true, null, 1000, "b"),
                Scored.serving("crmn-demo", 1, "sha", false, true, 1000, "b"),
                Scored.serving("crmn-demo", 1, "sha", true, false, 1000, "c"));
        h.setProcessingTime(2000); // a late label kept for the other kind of prediction expires after the pair window
        assertThat(h.numKeyedStateEntries()).as("nothing waits").isZero();
    }

    @Test
    void aLabelLaterThanTheMaximumDelayFindsNothingAndTheStateIsBounded() throws Exception {
        h.setProcessingTime(0);
        h.processElement1(new StreamRecord<>(prediction("late", 1, null)));
        assertThat(h.numKeyedStateEntries()).isEqualTo(1);
        h.setProcessingTime(10_000);
        assertThat(h.numKeyedStateEntries()).as("dropped after --max-label-delay").isZero();
        h.processElement2(new StreamRecord<>(label("late", "1")));
        h.setProcessingTime(20_000);
        assertThat(h.numKeyedStateEntries()).isZero();
        assertThat(h.extractOutputValues()).containsExactly(Scored.serving("crmn-demo", 1, "sha", true, null, 0, "late"));
    }

    @Test
    void aShadowsPredictionOfTheSameFrameMeetsTheSameLateLabel() throws Exception {
        h.setProcessingTime(1000);
        h.processElement1(new StreamRecord<>(prediction("s", 3, null)));
        h.processElement1(new StreamRecord<>(shadowPrediction("s", 5, null)));
        h.processElement2(new StreamRecord<>(label("s", "5")));
        h.processElement2(new StreamRecord<>(label("t", "cat"))); // first, then the serving and the shadow prediction
        h.processElement1(new StreamRecord<>(prediction("t", 3, null)));
        h.processElement1(new StreamRecord<>(shadowPrediction("t", 3, null)));
        assertThat(h.extractOutputValues()).containsExactly(
                Scored.serving("crmn-demo", 1, "sha", true, null, 1000, "s"),
                Scored.shadow("crmn-demo", 2, "sha2", true, null, 1000, "s"),
                Scored.serving("crmn-demo", 1, "sha", false, false, 1000, "s"),
                Scored.shadow("crmn-demo", 2, "sha2", false, true, 1000, "s"),
                Scored.serving("crmn-demo", 1, "sha", true, true, 1000, "t"),
                Scored.shadow("crmn-demo", 2, "sha2", true, true, 1000, "t"));
    }

    @Test
    void aLateLabelNamingNoClassIsADeadLetter() throws Exception {
        h.processElement1(new StreamRecord<>(prediction("x", 1, null)));
        h.processElement2(new StreamRecord<>(label("x", "kat")));
        assertThat(h.getSideOutput(RecordParser.DEAD_LETTERS)).singleElement().satisfies(r -> {
            DeadLetter d = r.getValue();
            assertThat(d.reason()).isEqualTo(DeadLetterReason.BAD_LABEL);
            assertThat(d.detail()).contains("kat").contains("crmn-demo");
            assertThat(d.original().topic()).isEqualTo("labels");
            assertThat(d.original().offset()).isEqualTo(7);
        });
    }

    /**
     * The join's state is bounded by --max-label-delay: 100,000 predictions waiting for late labels (10 minutes of
     * predictions at ~170/s), then none once the delay has passed. Prints the checkpoint size (docs/operations.md).
     */
    @Test
    void predictionsWaitingForLabelsAreBoundedByTheDelay() throws Exception {
        h.setProcessingTime(0);
        for (int i = 0; i < 100_000; i++) {
            h.processElement1(new StreamRecord<>(prediction("cam-1/" + i, i % 10, null)));
        }
        assertThat(h.numKeyedStateEntries()).isEqualTo(100_000);
        long bytes = h.snapshot(1, 1).getStateSize();
        System.out.printf("label join: 100,000 predictions waiting for a label: checkpoint %,d bytes (%d a prediction)%n",
                bytes, bytes / 100_000);
        assertThat(bytes / 100_000).as("bytes a waiting prediction costs in a checkpoint").isLessThan(200);
        h.setProcessingTime(10_000);
        assertThat(h.numKeyedStateEntries()).isZero();
        assertThat(h.snapshot(2, 2).getStateSize()).isLessThan(bytes / 100);
    }
}
