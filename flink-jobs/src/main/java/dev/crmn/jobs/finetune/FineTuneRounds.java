package dev.crmn.jobs.finetune;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The rounds (and state restores) of the fine-tuning jobs running in this JVM, for observers in the same process:
 * the local runner's {@code --json} summary, {@code crmn demo}'s live view and report, {@code crmn soak}, and the
 * ITCases. An observer {@link #collect}s while it needs them; with none (a TaskManager of a cluster, where the log
 * and the metrics carry the same reports) nothing is kept, so a JVM that runs rounds for weeks holds none of them.
 */
public final class FineTuneRounds {

    private static final List<Collector> COLLECTORS = new CopyOnWriteArrayList<>();

    /**
     * What a restored trainer kept of its state; {@code dropped} names the model the state belonged to when it was
     * dropped because the job now fine-tunes another (null when kept).
     */
    public record Restore(int reservoir, long reservoirSeen, int holdout, int newFrames, int pendingVersions,
                          String dropped) {
    }

    /** The reports made in this JVM from its creation until it is closed. */
    public static final class Collector implements AutoCloseable {
        private final List<RoundReport> rounds = new CopyOnWriteArrayList<>();
        private final List<Restore> restores = new CopyOnWriteArrayList<>();

        /** Every round reported so far, oldest first. */
        public List<RoundReport> all() {
            return List.copyOf(rounds);
        }

        /** Every restore of a trainer so far. */
        public List<Restore> restores() {
            return List.copyOf(restores);
        }

        /** Forgets what was collected (the collector goes on). */
        public void clear() {
            rounds.clear();
            restores.clear();
        }

        @Override
        public void close() {
            COLLECTORS.remove(this);
        }
    }

    private FineTuneRounds() {
    }

    /** Starts collecting the reports of every trainer in this JVM; close it when done. */
    public static Collector collect() {
        Collector c = new Collector();
        COLLECTORS.add(c);
        return c;
    }

    static void record(RoundReport r) {
        COLLECTORS.forEach(c -> c.rounds.add(r));
    }

    static void restored(Restore r) {
        COLLECTORS.forEach(c -> c.restores.add(r));
    }
}
