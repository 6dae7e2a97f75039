package dev.crmn.jobs.quality;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelQuality;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.store.ModelStatus;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.model.checkpoint.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.SplittableRandom;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.co.KeyedCoProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedTwoInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The tracker on Flink's keyed operator test harness with a real store: live accuracy per version, a worse version
 * rolled back (recorded, announced once, figures emitted), an equal one kept, a rollback by hand marked.
 */
class QualityTrackerTest {

    @TempDir
    Path dir;

    private ModelStore store;
    private QualityTracker tracker;

    /** crmn-demo v1 (the shipped model) and v2 (the early snapshot's weights under that name). */
    private ModelStore twoVersions() throws Exception {
        store = new ModelStore(dir.resolve("store").toString());
        store.publish(Path.of("..", "models", "crmn-demo"));
        Path v2 = Files.createDirectories(dir.resolve("v2"));
        Path early = Path.of("..", "models", "crmn-demo-early");
        Files.copy(early.resolve("model.zip"), v2.resolve("model.zip"));
        Checkpoints.writeManifest(v2.resolve("manifest.json"), Checkpoints.readManifest(early.resolve("manifest.json"))
                .toBuilder().name("crmn-demo").version(2).build());
        store.publish(v2);
        return store;
    }

    private KeyedTwoInputStreamOperatorTestHarness<String, Scored, ModelUpdate, ModelUpdate> harness() throws Exception {
        tracker = new QualityTracker(new RollbackRule(200, 0.01), 5000, 60_000, 1000,
                new StoreOptions.Location(store.root().toString(), null, null));
        var h = new KeyedTwoInputStreamOperatorTestHarness<>(new KeyedCoProcessOperator<>(tracker), Scored::model,
                (ModelUpdate u) -> u.ref().name(), Types.STRING);
        h.open();
        return h;
    }

    /** {@code n} labelled predictions of {@code version}, each correct with probability {@code accuracy}. */
    private static void feed(KeyedTwoInputStreamOperatorTestHarness<String, Scored, ModelUpdate, ModelUpdate> h,
                             long version, int n, double accuracy, SplittableRandom rng) throws Exception {
        for (int i = 0; i < n; i++) {
            h.processElement1(new StreamRecord<>(Scored.serving("crmn-demo", version, "sha", true,
                    rng.nextDouble() < accuracy, 0, "f-" + version + "-" + i)));
        }
    }

    @Test
    void aWorseVersionIsRolledBackOnceRecordedAnnouncedAndItsFiguresSaySo() throws Exception {
        twoVersions();
        SplittableRandom rng = new SplittableRandom(1);
        try (var h = harness()) {
            h.setProcessingTime(1_000);
            feed(h, 1, 1000, 0.8, rng);
            feed(h, 2, 199, 0.5, rng);
            assertThat(h.extractOutputValues()).as("before its first look (200)").isEmpty();
            feed(h, 2, 300, 0.5, rng); // the first look decides; later predictions of v2 (in flight) decide nothing
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).hasSize(1);
            ModelUpdate u = out.get(0);
            assertThat(u.action()).isEqualTo(ModelUpdate.Action.ROLLBACK);
            assertThat(u.ref().version()).isEqualTo(1);
            assertThat(u.replaces()).isEqualTo(2);
            assertThat(u.reason()).contains("below v1's").contains(RollbackRule.TEST).contains("at look 0");
            ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
            assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.ROLLED_BACK);
            assertThat(store.status(store.find("crmn-demo", 1).orElseThrow()).orElseThrow().value())
                    .isEqualTo(ModelStatus.SERVING);

            List<ModelQuality> decided = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .toList();
            ModelQuality q2 = decided.stream().filter(q -> q.version() == 2).findFirst().orElseThrow();
            assertThat(q2.status()).isEqualTo("rolled-back");
            assertThat(q2.labelled()).isEqualTo(200);
            assertThat(q2.replaces()).isEqualTo(1);
            assertThat(q2.baseline().labelled()).isEqualTo(1000);
            assertThat(q2.lastTest().pValue()).isLessThan(q2.lastTest().alpha());
            assertThat(q2.decision().action()).isEqualTo("rollback");
            assertThat(decided.stream().filter(q -> q.version() == 1).findFirst().orElseThrow().status())
                    .isEqualTo("serving");

            h.setProcessingTime(5_000); // the report timer: the figures that changed since (v1's did not)
            List<ModelQuality> reported = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(q -> q.updatedAt() == 5_000).toList();
            assertThat(reported).extracting(ModelQuality::version).containsExactly(2L);
            ModelQuality last2 = reported.stream().filter(q -> q.version() == 2).findFirst().orElseThrow();
            assertThat(last2.labelled()).isEqualTo(499);
            assertThat(last2.status()).as("its late predictions do not make it serve again").isEqualTo("rolled-back");
        }
    }

    @Test
    void anEqualVersionIsKeptThroughFiveThousandLabelledPredictions() throws Exception {
        twoVersions();
        SplittableRandom rng = new SplittableRandom(2);
        try (var h = harness()) {
            feed(h, 1, 2000, 0.8, rng);
            feed(h, 2, 5000, 0.8, rng);
            assertThat(h.extractOutputValues()).isEmpty();
            h.setProcessingTime(2_000);
            ModelQuality q2 = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(q -> q.version() == 2).reduce((a, b) -> b).orElseThrow();
            assertThat(q2.status()).isEqualTo("serving");
            assertThat(q2.lastTest().look()).isEqualTo(4); // 200, 400, 800, 1,600, 3,200
            assertThat(q2.decision()).isNull();
            assertThat(store.status(store.find("crmn-demo", 2).orElseThrow())).isEmpty();
        }
    }

    @Test
    void aRollbackAnnouncedElsewhereIsMarkedAndNotDecidedAgain() throws Exception {
        twoVersions();
        SplittableRandom rng = new SplittableRandom(3);
        try (var h = harness()) {
            feed(h, 1, 1000, 0.8, rng);
            feed(h, 2, 100, 0.5, rng);
            ModelRef v1 = store.find("crmn-demo", 1).orElseThrow();
            h.processElement2(new StreamRecord<>(ModelUpdate.rollback(v1, 2, "by hand")));
            feed(h, 2, 400, 0.5, rng);
            assertThat(h.extractOutputValues()).as("rolled back already: nothing to announce").isEmpty();
            h.setProcessingTime(2_000);
            ModelQuality q2 = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(q -> q.version() == 2).reduce((a, b) -> b).orElseThrow();
            assertThat(q2.status()).isEqualTo("rolled-back");
            assertThat(q2.decision().reason()).isEqualTo("by hand");
        }
    }

    @Test
    void aDecisionRecordedBeforeAFailureIsAnnouncedOnceWhenTheReplayReachesItsLook() throws Exception {
        twoVersions();
        ModelRef v1 = store.find("crmn-demo", 1).orElseThrow();
        ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
        store.recordRollback(v2, v1, "decided before the failure");
        SplittableRandom rng = new SplittableRandom(4);
        try (var h = harness()) {
            feed(h, 1, 1000, 0.8, rng);
            feed(h, 2, 200, 0.79, rng); // whatever the replay's numbers: the store's decision stands
            assertThat(h.extractOutputValues()).singleElement().satisfies(u -> {
                assertThat(u.action()).isEqualTo(ModelUpdate.Action.ROLLBACK);
                assertThat(u.reason()).startsWith("decided before the failure");
            });
            assertThat(store.statusHistory(v2)).hasSize(1);
        }
    }

    /**
     * {@code n} labelled frames classified by serving v1 (right with probability {@code serving}) and by the shadow v2
     * (right with probability {@code shadow}, independently): the shadow's outcomes and their pairs.
     */
    private static void pairs(KeyedTwoInputStreamOperatorTestHarness<String, Scored, ModelUpdate, ModelUpdate> h, int n,
                              double serving, double shadow, SplittableRandom rng) throws Exception {
        for (int i = 0; i < n; i++) {
            Scored v1 = Scored.serving("crmn-demo", 1, "sha", true, rng.nextDouble() < serving, 0, "p-" + i);
            Scored v2 = Scored.shadow("crmn-demo", 2, "sha2", true, rng.nextDouble() < shadow, 0, "p-" + i);
            h.processElement1(new StreamRecord<>(v1));
            h.processElement1(new StreamRecord<>(v2));
            h.processElement1(new StreamRecord<>(Scored.pair(v2, v1)));
        }
    }

    @Test
    void aBetterShadowIsServedAndAWorseOneRejectedOnTheirPairedTests() throws Exception {
        twoVersions();
        ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
        try (var h = harness()) {
            feed(h, 1, 300, 0.6, new SplittableRandom(5));
            pairs(h, 400, 0.6, 0.8, new SplittableRandom(6));
            List<ModelUpdate> out = h.extractOutputValues();
            assertThat(out).singleElement().satisfies(u -> {
                assertThat(u.action()).isEqualTo(ModelUpdate.Action.SERVE);
                assertThat(u.ref().version()).isEqualTo(2);
            });
            assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.SERVING);
            assertThat(store.status(v2).orElseThrow().reason()).contains("better than v1").contains(QualityTracker.SHADOW_TEST);
            ModelQuality q = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(m -> m.version() == 2 && m.decision() != null).findFirst().orElseThrow();
            assertThat(q.decision().action()).isEqualTo("serve");
            assertThat(q.paired().against()).isEqualTo(1);
            assertThat(q.paired().shadowOnlyCorrect()).isGreaterThan(q.paired().servingOnlyCorrect());
            assertThat(q.status()).isEqualTo("shadow");
            feed(h, 2, 10, 0.8, new SplittableRandom(7)); // now its serving predictions come
            h.setProcessingTime(2_000);
            ModelQuality serving = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(m -> m.version() == 2).reduce((a, b) -> b).orElseThrow();
            assertThat(serving.status()).isEqualTo("serving");
            assertThat(serving.replaces()).as("its rollback baseline").isEqualTo(1);
        }
    }

    @Test
    void aWorseShadowIsRejectedAndAnEqualOneAtTheCap() throws Exception {
        twoVersions();
        ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
        try (var h = harness()) {
            feed(h, 1, 300, 0.8, new SplittableRandom(8));
            pairs(h, 400, 0.8, 0.5, new SplittableRandom(9));
            assertThat(h.extractOutputValues()).singleElement().satisfies(u -> {
                assertThat(u.action()).isEqualTo(ModelUpdate.Action.REJECT);
                assertThat(u.ref().version()).isEqualTo(2);
                assertThat(u.reason()).contains("worse than v1");
            });
            assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.REJECTED);
            pairs(h, 100, 0.8, 0.5, new SplittableRandom(10)); // in flight: decided already
            assertThat(h.extractOutputValues()).hasSize(1);
        }
        twoVersionsAgain();
        try (var h = harness()) {
            feed(h, 1, 300, 0.8, new SplittableRandom(11));
            pairs(h, 5000, 0.8, 0.8, new SplittableRandom(12));
            assertThat(h.extractOutputValues()).singleElement().satisfies(u -> {
                assertThat(u.action()).isEqualTo(ModelUpdate.Action.REJECT);
                assertThat(u.reason()).contains("not significantly better than v1 after 5000 pairs");
            });
        }
    }

    /**
     * Weeks of promotions: the figures of settled versions are forgotten but the newest few, the serving version and
     * its rollback baseline, so the state (written on every prediction) stops growing; a forgotten version's late
     * predictions count nowhere, a kept one's still count, and a rollback to a forgotten version starts new figures.
     */
    @Test
    void settledVersionsAreForgottenSoTheStateStopsGrowingOverManyPromotions() throws Exception {
        twoVersions();
        SplittableRandom rng = new SplittableRandom(13);
        long[] stateBytes = new long[3];
        try (var h = harness()) {
            long now = 0;
            for (int v = 1; v <= 60; v++) {
                feed(h, v, 250, 0.8, rng); // equal accuracy: no rollback
                now += 1_000;
                h.setProcessingTime(now); // the report timer: figures emitted, settled ones forgotten
                if (v % 20 == 0) {
                    stateBytes[v / 20 - 1] = h.snapshot(v, now).getStateSize();
                }
            }
            assertThat(h.extractOutputValues()).as("no decision among equal versions").isEmpty();
            assertThat(tracker.versionsWithMetrics()).as("gauges only for the versions whose figures are kept")
                    .hasSizeLessThanOrEqualTo(QualityTracker.SETTLED_KEPT + 2).contains("crmn-demo/v60")
                    .doesNotContain("crmn-demo/v3", "crmn-demo/v10");
            assertThat(stateBytes[2]).as("state after 20, 40, 60 versions: %s", java.util.Arrays.toString(stateBytes))
                    .isLessThan(stateBytes[0] + stateBytes[0] / 10);

            int reported = h.getSideOutput(QualityTracker.QUALITY).size();
            feed(h, 3, 50, 0.8, rng); // forgotten long ago
            feed(h, 57, 50, 0.8, rng); // settled, among the newest kept
            now += 1_000;
            h.setProcessingTime(now);
            List<ModelQuality> late = h.getSideOutput(QualityTracker.QUALITY).stream().skip(reported)
                    .map(StreamRecord::getValue).toList();
            assertThat(late).extracting(ModelQuality::version).containsExactly(57L);
            assertThat(late.get(0).labelled()).isEqualTo(300);
            assertThat(late.get(0).status()).isEqualTo("replaced");

            ModelRef v10 = new ModelRef(1, "crmn-demo", 10, "file:/nowhere/v10", "sha", null, null, null, 0);
            h.processElement2(new StreamRecord<>(ModelUpdate.rollback(v10, 60, "by hand, to a version long forgotten")));
            feed(h, 10, 30, 0.8, rng);
            now += 1_000;
            h.setProcessingTime(now);
            ModelQuality q10 = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(q -> q.version() == 10).reduce((a, b) -> b).orElseThrow();
            assertThat(q10.status()).isEqualTo("serving");
            assertThat(q10.labelled()).as("new figures since it serves again").isEqualTo(30);
            assertThat(tracker.versionsWithMetrics()).as("its gauges registered again").contains("crmn-demo/v10");
            ModelQuality q60 = h.getSideOutput(QualityTracker.QUALITY).stream().map(StreamRecord::getValue)
                    .filter(q -> q.version() == 60).reduce((a, b) -> b).orElseThrow();
            assertThat(q60.status()).isEqualTo("rolled-back");
        }
    }

    /** A fresh store (another directory) with the same two versions. */
    private void twoVersionsAgain() throws Exception {
        dir = Files.createDirectories(dir.resolve("again"));
        twoVersions();
    }

    /**
     * What the tracker relies on to drop a forgotten version's gauges: closing one of Flink's metric groups (what a task
     * gets) closes it for good, and adding a group of the same name again makes a new, open one (the version serving
     * again). A Flink upgrade that changed this would leave gauges behind or lose a re-served version's.
     */
    @Test
    void aClosedVersionGroupIsReplacedWhenTheVersionIsAddedAgain() {
        org.apache.flink.metrics.MetricGroup model = org.apache.flink.runtime.metrics.groups.UnregisteredMetricGroups
                .createUnregisteredOperatorMetricGroup().addGroup("model", "crmn-demo");
        var first = (org.apache.flink.runtime.metrics.groups.AbstractMetricGroup<?>) model.addGroup("version", "7");
        first.close();
        var again = (org.apache.flink.runtime.metrics.groups.AbstractMetricGroup<?>) model.addGroup("version", "7");
        assertThat(first.isClosed()).isTrue();
        assertThat(again).isNotSameAs(first);
        assertThat(again.isClosed()).isFalse();
    }
}
