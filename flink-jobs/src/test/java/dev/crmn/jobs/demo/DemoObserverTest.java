package dev.crmn.jobs.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.model.infer.ClassScore;
import org.junit.jupiter.api.Test;

/** The demo's aggregates: right, and bounded however many predictions a long demo reads. */
class DemoObserverTest {

    private static final long START = 1_700_000_000_000L;

    private static Prediction prediction(String id, int partition, long offset, long version, Integer label, int top,
                                         long producedAt, double latencyMs) {
        return new Prediction(PredictionJson.CURRENT_SCHEMA, id, "k", new Prediction.Source("frames", partition, offset),
                new ClassScore[]{new ClassScore(top, "c" + top, 0.9f)}, new Prediction.ModelInfo("m", version, "00"), 8,
                new Prediction.Timings(1, 2, latencyMs), null, label, producedAt);
    }

    @Test
    void countsPerVersionBucketAndDuplicateByKafkaRecord() {
        DemoObserver o = new DemoObserver("unused:9092", "predictions", "dead-letters", "frames-", START);
        o.add(prediction("frames-1", 0, 0, 1, 3, 3, START + 1_000, 10)); // v1, correct
        o.add(prediction("frames-2", 0, 1, 1, 3, 4, START + 2_000, 20)); // v1, wrong
        o.add(prediction("outside", 1, 0, 1, null, 4, START + 3_000, 30)); // unlabelled, an outside client's
        o.add(prediction("frames-3", 1, 1, 2, 5, 5, START + 12_000, 40)); // v2, correct, second bucket
        o.add(prediction("frames-2", 0, 1, 2, 3, 3, START + 13_000, 50)); // the same record again: a duplicate
        o.add(prediction("frames-4", 0, 1L << 31, 2, 5, 5, START + 14_000, 60)); // a huge offset is its own record
        DemoObserver.Summary s = o.summary();
        assertThat(s.predictions()).isEqualTo(5);
        assertThat(o.duplicates()).isEqualTo(1);
        assertThat(o.ownPredicted()).isEqualTo(4);
        assertThat(s.perVersion().get(1L)).isEqualTo(new DemoObserver.Counts(3, 2, 1));
        assertThat(s.perVersion().get(2L)).isEqualTo(new DemoObserver.Counts(2, 2, 2));
        assertThat(s.buckets()).containsOnlyKeys(0L, 1L);
        assertThat(s.buckets().get(0L).predictions()).isEqualTo(3);
        assertThat(s.versionsFirstSeen()).containsEntry(1L, START + 1_000).containsEntry(2L, START + 12_000);
        assertThat(s.latencySample()).containsExactly(10, 20, 30, 40, 60);
        assertThat(s.maxLatencyMs()).isEqualTo(60);
        DemoObserver.Live live = o.live(START + 14_000);
        assertThat(live.recentAccuracy().get(1L)).isCloseTo(0.5, within(1e-9));
        assertThat(live.perSecond()).isCloseTo(0.2, within(1e-9)); // two made after START + 4 s
    }

    @Test
    void aLongDemoKeepsBoundedSamplesAndWindows() {
        DemoObserver o = new DemoObserver("unused:9092", "predictions", "dead-letters", "frames-", START);
        int n = DemoObserver.LATENCY_SAMPLE + 50_000;
        for (int i = 0; i < n; i++) {
            o.add(prediction("frames-" + i, i % 2, i / 2, 1, 1, i % 4 == 0 ? 2 : 1, START + i * 10L, i % 1000));
        }
        DemoObserver.Summary s = o.summary();
        assertThat(s.predictions()).isEqualTo(n);
        assertThat(s.latencySample()).hasSize(DemoObserver.LATENCY_SAMPLE);
        assertThat(s.latencySample()[DemoObserver.LATENCY_SAMPLE / 2]).as("the sample's median").isBetween(450.0, 550.0);
        assertThat(s.maxLatencyMs()).isEqualTo(999);
        assertThat(s.perVersion().get(1L).accuracy()).isCloseTo(0.75, within(1e-9));
        assertThat(s.buckets()).hasSize((int) ((n * 10L - 1) / 1000 / DemoObserver.BUCKET_S) + 1);
        DemoObserver.Live live = o.live(START + n * 10L);
        assertThat(live.recentAccuracy().get(1L)).as("the last %d labelled", DemoObserver.RECENT).isCloseTo(0.75, within(0.01));
        assertThat(live.perSecond()).isCloseTo(100, within(1.0)); // one every 10 ms
        assertThat(o.duplicates()).isZero();
    }
}
