package dev.crmn.connectors.store;

import dev.crmn.connectors.format.ModelRef;
import java.io.IOException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;

/**
 * Which published versions of a model keep their weights when a store is pruned ({@code crmn models prune}): a store
 * the fine-tuning job promotes into gains a checkpoint with every promotion, forever, unless something deletes the
 * ones nothing can use any more. A version keeps its weights when any of these holds (the first that does is its
 * reason):
 * <ol>
 *   <li>it is one of the {@code keepNewest} highest versions;</li>
 *   <li>its status is serving (the store's records, {@link ModelStatus});</li>
 *   <li>its status is shadow (being judged against the serving version);</li>
 *   <li>it is newer than the newest serving version (published and not yet announced, or announced and not yet
 *       recorded);</li>
 *   <li>it is one of the {@code keepServed} versions served most recently: the quality job's rollback baseline is
 *       the version the serving one replaced, and a rollback by hand goes to a recent one.</li>
 * </ol>
 * Everything else may go: older versions that were retired, rejected, rolled back, or never announced. A model with
 * no version recorded as serving is not planned at all: the rules could not tell
 * which version a job serves (an {@link IOException}, like {@code crmn rollback}'s).
 */
public final class Retention {

    /**
     * What a plan decides for one version.
     *
     * @param ref           the version
     * @param status        its status now ({@code published} without records)
     * @param keep          whether it keeps its weights
     * @param reason        why, in words
     * @param alreadyPruned whether its weights were pruned before
     */
    public record Decision(ModelRef ref, String status, boolean keep, String reason, boolean alreadyPruned) {

        /** Whether a prune deletes its weights now (not kept, not pruned before). */
        public boolean prunable() {
            return !keep && !alreadyPruned;
        }
    }

    /** {@code crmn models prune}'s default {@code --keep-served}: the serving version, its baseline and one more. */
    public static final int DEFAULT_KEEP_SERVED = 3;

    private Retention() {
    }

    /**
     * The decision for every published version of {@code name}, oldest first.
     *
     * @throws IllegalArgumentException if {@code keepNewest} is below 1 or {@code keepServed} below 1
     * @throws IOException              if {@code name} has no published version, or none recorded as serving (or the
     *                                  store fails)
     */
    public static List<Decision> plan(ModelStore store, String name, int keepNewest, int keepServed) throws IOException {
        if (keepNewest < 1) {
            throw new IllegalArgumentException("--keep must be at least 1 (the newest version always stays), got " + keepNewest);
        }
        if (keepServed < 1) {
            throw new IllegalArgumentException("--keep-served must be at least 1 (the serving version's rollback baseline"
                    + " needs the one before it), got " + keepServed);
        }
        List<ModelRef> refs = store.list(name);
        if (refs.isEmpty()) {
            throw new IOException("no published versions of " + name + " in " + store.root());
        }
        Map<Long, List<ModelStatus.Change>> history = new TreeMap<>();
        for (ModelRef r : refs) {
            history.put(r.version(), store.statusHistory(r));
        }
        long newestServing = -1;
        List<long[]> served = new ArrayList<>(); // {version, time of its last serving record}
        for (Map.Entry<Long, List<ModelStatus.Change>> e : history.entrySet()) {
            List<ModelStatus.Change> h = e.getValue();
            if (!h.isEmpty() && h.get(h.size() - 1).value() == ModelStatus.SERVING) {
                newestServing = Math.max(newestServing, e.getKey());
            }
            h.stream().filter(c -> c.value() == ModelStatus.SERVING).mapToLong(ModelStatus.Change::at).max()
                    .ifPresent(at -> served.add(new long[] {e.getKey(), at}));
        }
        if (newestServing < 0) {
            throw new IOException("no version of " + name + " is recorded as serving in the store, so pruning"
                    + " could not tell which versions a job may still need; announce the serving one first (crmn publish"
                    + " --announce, or the fine-tuning job's promotions record it)");
        }
        served.sort(Comparator.comparingLong((long[] v) -> v[1]).thenComparingLong(v -> v[0]).reversed());
        Set<Long> recentlyServed = new HashSet<>();
        for (int i = 0; i < Math.min(keepServed, served.size()); i++) {
            recentlyServed.add(served.get(i)[0]);
        }
        Set<Long> newest = new HashSet<>();
        refs.stream().map(ModelRef::version).distinct().sorted(Comparator.reverseOrder()).limit(keepNewest)
                .forEach(newest::add);
        List<Decision> out = new ArrayList<>();
        for (ModelRef r : refs) {
            List<ModelStatus.Change> h = history.get(r.version());
            Optional<ModelStatus> now = h.isEmpty() ? Optional.empty() : Optional.of(h.get(h.size() - 1).value());
            String reason = newest.contains(r.version()) ? "one of the newest " + keepNewest
                    : now.orElse(null) == ModelStatus.SERVING ? "serving"
                    : now.orElse(null) == ModelStatus.SHADOW ? "a shadow being judged"
                    : r.version() > newestServing ? "newer than the serving v" + newestServing
                    : recentlyServed.contains(r.version()) ? "one of the " + keepServed + " most recently served (a rollback target)"
                    : null;
            String status = now.map(ModelStatus::wireName).orElse("published");
            out.add(new Decision(r, status, reason != null, reason != null ? reason
                    : status + ", older than the newest " + keepNewest + " and not among the " + keepServed
                    + " most recently served", ModelStore.pruned(r).isPresent()));
        }
        return out;
    }

    /**
     * Prunes now what {@link #plan} lets go ({@link Decision#prunable()}), each record saying {@code by}, then the
     * rule: what a job or tool that prunes under running jobs calls ({@code crmn models prune} plans first, for its
     * dry run and sizes).
     *
     * @return the versions pruned, oldest first
     */
    public static List<Long> prune(ModelStore store, String name, int keepNewest, int keepServed, String by)
            throws IOException {
        List<Long> pruned = new ArrayList<>();
        for (Decision d : plan(store, name, keepNewest, keepServed)) {
            if (d.prunable()) {
                store.prune(d.ref(), by + ": " + d.reason());
                pruned.add(d.ref().version());
            }
        }
        return pruned;
    }
}
