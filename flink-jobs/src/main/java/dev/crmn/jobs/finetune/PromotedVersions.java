package dev.crmn.jobs.finetune;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.ModelCache;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.Retention;
import dev.crmn.connectors.store.VersionTakenException;
import dev.crmn.jobs.common.TaskWorker;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.util.MoreFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.UUID;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Promoted versions from the round that promoted them until they are announced. One job: exactly-once publishing.
 * <ul>
 *   <li>A promoted version is <b>pending</b> (operator state) from its promotion; it is handed to the publisher thread
 *       once a checkpoint holding it completes (object stores are slow: the task thread does no store I/O).</li>
 *   <li>Published, it leaves {@code pending} on the task thread, where {@code onAnnounce} emits it (in the next
 *       transaction of the announcements' sink). After a failure the restored pending versions are published
 *       again (a no-op for the same bytes) and announced: no number is published twice, every version announced once.</li>
 *   <li>When another publisher took its number meanwhile, the candidate is renumbered above the store's newest
 *       version and published again ({@link #publish(PendingVersion, ModelStore, Path)}).</li>
 * </ul>
 * The task thread's, but for the publishing itself.
 */
final class PromotedVersions {

    private static final Logger LOG = LoggerFactory.getLogger(PromotedVersions.class);

    /** What the task thread does once a version is published: announces it. */
    @FunctionalInterface
    interface OnPublished {
        void accept(PendingVersion promoted, ModelRef published);
    }

    private final List<PendingVersion> pending;
    private final Map<Long, Long> snapshottedIn = new HashMap<>();
    /** Versions handed to the publisher and not announced yet (still pending, so in every checkpoint). */
    private final Set<Long> publishing = new HashSet<>();
    private TaskWorker publisher;
    private boolean shadow;
    private int pruneKeep;
    private ModelStore store;
    private Path workDir;
    private OnPublished onPublished;

    /** {@code restored}: the versions a restored state had not announced yet. */
    PromotedVersions(List<PendingVersion> restored) {
        this.pending = new ArrayList<>(restored);
    }

    /**
     * Starts publishing (when the task opens): to {@code store}, through {@code cache}'s directory, on a thread of
     * its own whose results come back through {@code mailboxWorker}; restored versions are published again.
     * {@code pruneKeep} above 0: after each version is published the store is pruned as {@code crmn models prune
     * --keep pruneKeep} does ({@link #prune}).
     */
    void open(ModelStore store, ModelCache cache, TaskWorker publisherThread, boolean shadow, int pruneKeep,
              OnPublished onPublished) {
        this.store = store;
        this.shadow = shadow;
        this.pruneKeep = pruneKeep;
        this.workDir = cache.dir();
        this.publisher = publisherThread;
        this.onPublished = onPublished;
    }

    void add(PendingVersion p) {
        pending.add(p);
    }

    /** The pending versions, oldest first (a copy, for state). */
    List<PendingVersion> pending() {
        return List.copyOf(pending);
    }

    PendingVersion newest() {
        return pending.isEmpty() ? null : pending.get(pending.size() - 1);
    }

    /** Publishes every pending version (after a restore: they are in the completed checkpoint restored from). */
    void publishAll() {
        List.copyOf(pending).forEach(this::publish);
    }

    /** The checkpoint {@code id} is being taken: it holds every pending version. */
    void snapshotted(long id) {
        for (PendingVersion p : pending) {
            snapshottedIn.putIfAbsent(p.version(), id);
        }
    }

    /** Checkpoint {@code id} completed: the versions it holds are published. */
    void checkpointComplete(long id) {
        for (PendingVersion p : List.copyOf(pending)) {
            Long in = snapshottedIn.get(p.version());
            if (in != null && in <= id) {
                publish(p);
            }
        }
    }

    /**
     * Hands a version to the publisher thread; it is announced, and leaves {@code pending}, on the task thread once
     * published. A failure to publish fails the task: Flink restores it and the version is published again.
     */
    private void publish(PendingVersion p) {
        if (!publishing.add(p.version())) {
            return; // on its way already
        }
        publisher.submit("publish v" + p.version(), () -> {
            ModelRef ref = publish(p, store, workDir, shadow);
            if (pruneKeep > 0) {
                prune(store, ref, pruneKeep);
            }
            return ref;
        }, ref -> {
            publishing.remove(p.version());
            pending.remove(p);
            snapshottedIn.remove(p.version());
            onPublished.accept(p, ref);
        }, e -> {
            publishing.remove(p.version());
            throw e instanceof Exception x ? x : new IllegalStateException("publishing v" + p.version() + " failed", e);
        }, ref -> LOG.info("published {} as the task closed; it is announced on model-updates when the job next starts"
                + " from its savepoint or latest checkpoint (where it is still pending)", ref.displayName()));
    }

    /**
     * Stops the publisher thread once the versions handed to it are published (they are in a completed checkpoint,
     * the stop's savepoint among them, and publishing is idempotent: a stop does not leave one half-copied or for the
     * next start); whether it ended within {@code timeout}.
     */
    boolean stop(Duration timeout) throws InterruptedException {
        return publisher == null || publisher.finish(timeout);
    }

    /**
     * Prunes the weights of {@code published}'s model that nothing can use any more, by {@link Retention}'s rules with
     * {@code keep} newest and {@link Retention#DEFAULT_KEEP_SERVED} most recently served: what {@code crmn models
     * prune --keep keep} does, so that a job promoting for weeks does not fill the store. A failure to prune is said
     * in a WARN and changes nothing else: the version is published and announced either way, and the next promotion
     * tries again.
     *
     * @return the versions pruned now
     */
    static List<Long> prune(ModelStore store, ModelRef published, int keep) {
        try {
            List<Long> pruned = Retention.prune(store, published.name(), keep, Retention.DEFAULT_KEEP_SERVED,
                    "pruned by the fine-tuning job after it published v" + published.version() + " (--prune-keep "
                            + keep + ")");
            if (!pruned.isEmpty()) {
                LOG.info("pruned the weights of {} v{} from {} (--prune-keep {})", published.name(), pruned,
                        store.root(), keep);
            }
            return pruned;
        } catch (java.io.IOException | RuntimeException e) {
            LOG.warn("pruning {} in {} failed; the job goes on and tries again after its next promotion: {}",
                    published.name(), store.root(), e.toString());
            return List.of();
        }
    }

    /**
     * Publishes a promoted version to {@code store} (through a directory under {@code workDir}) and records it as
     * serving. When another publisher took its number (a {@code crmn publish} of another checkpoint, a second
     * trainer), the candidate is renumbered above the store's newest version (its manifest rewritten) and published
     * again, instead of failing the task for ever.
     */
    static ModelRef publish(PendingVersion p, ModelStore store, Path workDir, boolean shadow) throws Exception {
        Manifest m = Checkpoints.readManifest(p.manifestJson(), "version " + p.version());
        for (int attempt = 1; ; attempt++) {
            Path tmp = Files.createDirectories(workDir.resolve(ModelCache.PUBLISHING + UUID.randomUUID()));
            try {
                Path dir = tmp.resolve("v" + m.version());
                Checkpoints.write(dir, new Checkpoints.Serialized(m, p.zip()));
                ModelRef ref = store.publish(dir);
                String why = String.format(java.util.Locale.ROOT, "promoted by the fine-tuning job (%.1f %% on its"
                        + " holdout)", 100 * m.metrics().getOrDefault("holdout_accuracy", Double.NaN));
                if (shadow) {
                    if (store.status(ref).isEmpty()) { // published again after a failure: recorded already
                        store.recordStatus(ref, dev.crmn.connectors.store.ModelStatus.SHADOW, why + ", announced as a"
                                + " shadow on model-updates");
                    }
                } else {
                    store.recordServing(ref, why + ", announced on model-updates");
                }
                return ref;
            } catch (VersionTakenException e) {
                if (attempt >= 10) {
                    throw e;
                }
                long next = Math.max(store.latest(m.name()).map(ModelRef::version).orElse(0L), m.version()) + 1;
                LOG.warn("{} was taken by another publisher ({}); publishing this candidate as v{}", m.displayName(),
                        e.getMessage(), next);
                m = m.toBuilder().version(next).build();
            } finally {
                MoreFiles.deleteQuietly(tmp);
            }
        }
    }
}
