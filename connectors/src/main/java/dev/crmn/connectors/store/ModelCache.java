package dev.crmn.connectors.store;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.model.util.MoreFiles;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.stream.Stream;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A TaskManager's local copies of published checkpoints ({@link ModelStore#fetch}), bounded: a job that swaps
 * versions for weeks must not fill the disk with every version it ever served.
 *
 * <p>A checkpoint is needed on disk only while it is being loaded (a loaded model lives in memory), so
 * {@link #use} fetches, hands the directory to the loader and then evicts: the {@code keep} most recently used
 * entries stay (a restore or a rollback finds them without a download), older ones go, except an entry some
 * thread of this JVM is using (every subtask of a TaskManager shares the JVM and the directory) and an entry
 * used within the {@code grace} period (another process on the same host may share the directory and be
 * loading it). Leftovers of killed processes ({@code .fetch-*}, {@code .stale-*}, {@code .publish-*}) older
 * than an hour go too.
 *
 * <p>Where the cache lies is decided on the TaskManager ({@link #dir}): the configured directory, else
 * {@value #DIR_NAME} in the TaskManager's own temporary directory, never a path of the machine that submitted
 * the job.
 */
public final class ModelCache {

    /** The cache's directory name in a temporary directory when none is configured. */
    public static final String DIR_NAME = "crmn-model-cache";
    /** Entries kept after a load, however old (most recently used first). */
    public static final int DEFAULT_KEEP = 3;
    /** An entry used more recently than this is never evicted (another process may be loading it). */
    public static final Duration DEFAULT_GRACE = Duration.ofMinutes(5);
    /** Private directories older than this are a dead process's leftovers. */
    static final Duration LEFTOVER_AGE = Duration.ofHours(1);

    static final String FETCHING = ".fetch-";
    static final String STALE = ".stale-";
    /** Where the fine-tuning job writes a candidate before publishing it. */
    public static final String PUBLISHING = ".publish-";

    private static final Logger LOG = LoggerFactory.getLogger(ModelCache.class);
    /** Entries (by {@link #entryPrefix}) in use by a thread of this JVM, with how many threads use each. */
    private static final ConcurrentHashMap<String, AtomicInteger> IN_USE = new ConcurrentHashMap<>();
    private static final Object EVICTING = new Object();

    private final ModelStore store;
    private final Path dir;
    private final int keep;
    private final Duration grace;

    public ModelCache(ModelStore store, Path dir) {
        this(store, dir, DEFAULT_KEEP, DEFAULT_GRACE);
    }

    public ModelCache(ModelStore store, Path dir, int keep, Duration grace) {
        if (keep < 0 || grace.isNegative()) {
            throw new IllegalArgumentException("keep >= 0 and a non-negative grace period");
        }
        this.store = store;
        this.dir = dir;
        this.keep = keep;
        this.grace = grace;
    }

    /**
     * Where the cache lies on this machine: {@code configured}, else {@value #DIR_NAME} under {@code localTmp} (the
     * TaskManager's temporary directory), else under {@code java.io.tmpdir}.
     */
    public static Path dir(String configured, Path localTmp) {
        if (configured != null && !configured.isBlank()) {
            return Path.of(configured);
        }
        return (localTmp != null ? localTmp : Path.of(System.getProperty("java.io.tmpdir"))).resolve(DIR_NAME);
    }

    public Path dir() {
        return dir;
    }

    public ModelStore store() {
        return store;
    }

    /** A checkpoint in use by a {@link #use} call. */
    @FunctionalInterface
    public interface Use<T> {
        T apply(Path checkpoint) throws IOException;
    }

    /**
     * Fetches {@code ref} (verified; see {@link ModelStore#fetch}), applies {@code use} to the local checkpoint while
     * no eviction of this JVM can remove it, then evicts what is no longer needed.
     */
    public <T> T use(ModelRef ref, Use<T> use) throws IOException {
        String entry = entryPrefix(ref);
        IN_USE.computeIfAbsent(entry, k -> new AtomicInteger()).incrementAndGet();
        try {
            return use.apply(store.fetch(ref, dir));
        } finally {
            IN_USE.computeIfPresent(entry, (k, n) -> n.decrementAndGet() == 0 ? null : n);
            evictQuietly();
        }
    }

    /** The start of an entry's directory name: its model name (file-name safe) and version. */
    static String entryPrefix(ModelRef ref) {
        return ref.name().replaceAll("[^A-Za-z0-9._]", "_") + "-v" + ref.version() + "-";
    }

    private void evictQuietly() {
        try {
            evict();
        } catch (IOException | RuntimeException e) {
            LOG.warn("could not evict old entries of the model cache {}: {}", dir, e.toString());
        }
    }

    /**
     * Removes entries beyond the {@code keep} most recently used that no thread of this JVM uses and that were not
     * used within the grace period, and private leftovers older than an hour.
     *
     * @return the entries removed
     */
    public List<String> evict() throws IOException {
        synchronized (EVICTING) {
            if (!Files.isDirectory(dir)) {
                return List.of();
            }
            long now = System.currentTimeMillis();
            List<Path> entries = new ArrayList<>();
            List<String> removed = new ArrayList<>();
            try (Stream<Path> s = Files.list(dir)) {
                for (Path p : s.toList()) {
                    String name = p.getFileName().toString();
                    long age = now - modified(p);
                    if (name.startsWith(".")) {
                        if ((name.startsWith(FETCHING) || name.startsWith(STALE) || name.startsWith(PUBLISHING))
                                && age > LEFTOVER_AGE.toMillis()) {
                            MoreFiles.deleteQuietly(p);
                            removed.add(name);
                        }
                    } else if (Files.isDirectory(p)) {
                        entries.add(p);
                    }
                }
            }
            entries.sort(Comparator.comparingLong(ModelCache::modified).reversed());
            for (Path p : entries.subList(Math.min(keep, entries.size()), entries.size())) {
                String name = p.getFileName().toString();
                boolean inUse = IN_USE.keySet().stream().anyMatch(name::startsWith);
                if (inUse || now - modified(p) < grace.toMillis()) {
                    continue;
                }
                try {
                    MoreFiles.deleteRecursively(ModelStore.moveAside(p, dir));
                    removed.add(name);
                } catch (NoSuchFileException gone) {
                    // evicted by another process sharing the directory
                }
            }
            if (!removed.isEmpty()) {
                LOG.info("model cache {}: removed {} (keeping the {} most recently used)", dir, removed, keep);
            }
            return removed;
        }
    }

    private static long modified(Path p) {
        try {
            return Files.getLastModifiedTime(p).toMillis();
        } catch (IOException e) {
            return 0;
        }
    }
}
