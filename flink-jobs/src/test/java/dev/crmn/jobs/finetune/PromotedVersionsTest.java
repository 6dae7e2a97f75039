package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.ModelCache;
import dev.crmn.connectors.store.ModelStatus;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.TaskWorker;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.streaming.runtime.tasks.StreamTaskActionExecutor;
import org.apache.flink.streaming.runtime.tasks.mailbox.MailboxExecutorImpl;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailboxImpl;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Promoted versions are published only once a checkpoint holding them completed, announced once on the task thread
 * (Flink's own mailbox, this test's thread as the task), renumbered when another publisher took their number.
 */
class PromotedVersionsTest {

    private static final Path SHIPPED = Path.of("..", "models", "crmn-demo");

    @TempDir
    Path dir;

    private final TaskMailboxImpl mailbox = new TaskMailboxImpl(Thread.currentThread());
    private final MailboxExecutorImpl executor = new MailboxExecutorImpl(mailbox, 0, StreamTaskActionExecutor.IMMEDIATE);

    static PendingVersion promoted(long version, Map<String, Double> metrics) throws Exception {
        return promoted(SHIPPED, version, metrics);
    }

    /** The checkpoint in {@code dir} as a promoted version {@code version} of crmn-demo. */
    static PendingVersion promoted(Path dir, long version, Map<String, Double> metrics) throws Exception {
        Manifest m = Checkpoints.readManifest(dir.resolve("manifest.json")).toBuilder().name("crmn-demo")
                .version(version).metrics(metrics).build();
        return new PendingVersion(version, Checkpoints.json().writeValueAsBytes(m),
                Files.readAllBytes(dir.resolve("model.zip")));
    }

    private ModelStore storeWithV1() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        store.publish(SHIPPED);
        return store;
    }

    @Test
    void publishedOnlyAfterTheCheckpointHoldingItCompletedAndAnnouncedOnce() throws Exception {
        ModelStore store = storeWithV1();
        List<ModelRef> announced = new ArrayList<>();
        PromotedVersions versions = new PromotedVersions(List.of());
        ModelCache cache = new ModelCache(store, dir.resolve("cache"));
        try {
            versions.open(store, cache, new TaskWorker("publisher", getClass().getClassLoader(), executor), false, 0,
                    (p, ref) -> announced.add(ref));
            PendingVersion v2 = promoted(2, Map.of("holdout_accuracy", 0.81));
            versions.add(v2);
            versions.checkpointComplete(1); // taken before the promotion: does not hold it
            assertThat(mailbox.hasMail()).isFalse();
            versions.snapshotted(2);
            versions.checkpointComplete(1); // an older checkpoint's late notification
            assertThat(mailbox.hasMail()).isFalse();
            assertThat(store.find("crmn-demo", 2)).isEmpty();

            versions.checkpointComplete(2);
            versions.checkpointComplete(2); // notified again while publishing: not published twice
            mailbox.take(0).run();
            assertThat(announced).extracting(ModelRef::version).containsExactly(2L);
            assertThat(versions.pending()).isEmpty();
            assertThat(store.status(announced.get(0)).map(ModelStatus.Change::value)).contains(ModelStatus.SERVING);
            versions.snapshotted(3);
            versions.checkpointComplete(3);
            assertThat(mailbox.hasMail()).as("nothing left to publish").isFalse();
        } finally {
            versions.stop(java.time.Duration.ofSeconds(10));
        }
    }

    /**
     * A stop with a savepoint: the savepoint holding a promoted version completes, and the task closes before the
     * publisher got to it. The version is published all the same (announced when the job next starts from that
     * savepoint), not dropped with the publisher's queue or cut short by an interrupt.
     */
    @Test
    void aVersionHandedToThePublisherAsTheJobStopsIsPublishedBeforeTheStopReturns() throws Exception {
        ModelStore store = storeWithV1();
        PromotedVersions versions = new PromotedVersions(List.of());
        TaskWorker publisher = new TaskWorker("publisher", getClass().getClassLoader(), executor);
        java.util.concurrent.CountDownLatch busy = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch release = new java.util.concurrent.CountDownLatch(1);
        publisher.prepare(() -> { // the publisher still busy with an earlier version when the savepoint completes
            busy.countDown();
            try {
                release.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        busy.await();
        versions.open(store, new ModelCache(store, dir.resolve("cache")), publisher, false, 0, (p, ref) -> { });
        versions.add(promoted(2, Map.of("holdout_accuracy", 0.81)));
        versions.snapshotted(7); // the stop's savepoint
        versions.checkpointComplete(7);
        java.util.concurrent.CompletableFuture<Boolean> stopped = java.util.concurrent.CompletableFuture.supplyAsync(() -> {
            try {
                return versions.stop(java.time.Duration.ofSeconds(30)); // the task closing
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
        });
        release.countDown();
        assertThat(stopped.get(60, java.util.concurrent.TimeUnit.SECONDS)).as("the publisher ended").isTrue();
        assertThat(store.find("crmn-demo", 2)).as("published, whole").isPresent();
        assertThat(store.verify(store.find("crmn-demo", 2).orElseThrow()).version()).isEqualTo(2);
        assertThat(versions.pending()).as("still pending in the savepoint's state: announced on the next start")
                .extracting(PendingVersion::version).containsExactly(2L);
    }

    @Test
    void restoredVersionsArePublishedAgainAsANoOpAndAnnounced() throws Exception {
        ModelStore store = storeWithV1();
        PendingVersion v2 = promoted(2, Map.of("holdout_accuracy", 0.81));
        ModelRef first = PromotedVersions.publish(v2, store, Files.createDirectories(dir.resolve("work")), false);
        List<ModelRef> announced = new ArrayList<>();
        PromotedVersions restored = new PromotedVersions(List.of(v2)); // the failure came before its announcement
        ModelCache cache = new ModelCache(store, dir.resolve("cache"));
        try {
            restored.open(store, cache, new TaskWorker("publisher", getClass().getClassLoader(), executor), false, 0,
                    (p, ref) -> announced.add(ref));
            restored.publishAll();
            mailbox.take(0).run();
            assertThat(announced).containsExactly(first);
            assertThat(store.find("crmn-demo", 3)).as("not published under another number").isEmpty();
        } finally {
            restored.stop(java.time.Duration.ofSeconds(10));
        }
    }

    @Test
    void aNumberAnotherPublisherTookIsRenumberedAboveTheStoresNewest() throws Exception {
        ModelStore store = storeWithV1();
        PromotedVersions.publish(promoted(Path.of("..", "models", "crmn-demo-early"), 2, Map.of()), store,
                Files.createDirectories(dir.resolve("w1")), false);
        ModelRef ours = PromotedVersions.publish(promoted(2, Map.of("holdout_accuracy", 0.81)), store,
                Files.createDirectories(dir.resolve("w2")), false);
        assertThat(ours.version()).isEqualTo(3);
        assertThat(Checkpoints.readManifest(Path.of(java.net.URI.create(ours.uri())).resolve("manifest.json"))
                .metrics()).containsEntry("holdout_accuracy", 0.81);
        assertThat(dir.resolve("w2")).isEmptyDirectory(); // its working copies are gone
    }

    @Test
    void aShadowPromotionIsRecordedAsAShadowNotServing() throws Exception {
        ModelStore store = storeWithV1();
        ModelRef v2 = PromotedVersions.publish(promoted(Path.of("..", "models", "crmn-demo-early"), 2, Map.of(
                "holdout_accuracy", 0.6)), store, Files.createDirectories(dir.resolve("w")), true);
        assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.SHADOW);
        assertThat(store.versionsServing("crmn-demo")).as("the serving version is not retired").isEmpty();
        PromotedVersions.publish(promoted(Path.of("..", "models", "crmn-demo-early"), 2, Map.of("holdout_accuracy", 0.6)),
                store, Files.createDirectories(dir.resolve("w-again")), true);
        assertThat(store.statusHistory(v2)).as("published again after a failure: recorded once").hasSize(1);
    }
    @Test
    void withPruneKeepEachPublishedVersionPrunesWhatNothingCanUseAndAFailedPruneChangesNothingElse() throws Exception {
        ModelStore store = storeWithV1();
        assertThat(PromotedVersions.prune(store, store.find("crmn-demo", 1).orElseThrow(), 1))
                .as("no version recorded as serving: the rules cannot tell what a job serves, so nothing goes (a WARN)")
                .isEmpty();
        store.recordServing(store.find("crmn-demo", 1).orElseThrow(), "served from the start");
        for (long v = 2; v <= 4; v++) {
            PromotedVersions.publish(promoted(v, Map.of("holdout_accuracy", 0.8)), store,
                    Files.createDirectories(dir.resolve("w" + v)), false);
        }
        List<ModelRef> announced = new ArrayList<>();
        PromotedVersions versions = new PromotedVersions(List.of());
        try {
            versions.open(store, new ModelCache(store, dir.resolve("cache")),
                    new TaskWorker("publisher", getClass().getClassLoader(), executor), false, 1,
                    (p, ref) -> announced.add(ref));
            versions.add(promoted(5, Map.of("holdout_accuracy", 0.8)));
            versions.snapshotted(1);
            versions.checkpointComplete(1);
            mailbox.take(0).run();
        } finally {
            versions.stop(java.time.Duration.ofSeconds(10));
        }
        assertThat(announced).extracting(ModelRef::version).containsExactly(5L);
        // v5 serving (and the newest), v4 and v3 the most recently served before it (rollback targets)
        for (long v = 1; v <= 5; v++) {
            assertThat(ModelStore.pruned(store.find("crmn-demo", v).orElseThrow()).isPresent()).as("v%d pruned", v)
                    .isEqualTo(v <= 2);
        }
        assertThat(ModelStore.pruned(store.find("crmn-demo", 1).orElseThrow()).orElseThrow().reason())
                .startsWith("pruned by the fine-tuning job after it published v5 (--prune-keep 1)");
        assertThat(PromotedVersions.prune(store, announced.get(0), 1)).as("run again: nothing left to prune").isEmpty();
        assertThat(store.verify(store.find("crmn-demo", 3).orElseThrow()).version()).isEqualTo(3);
    }
}
