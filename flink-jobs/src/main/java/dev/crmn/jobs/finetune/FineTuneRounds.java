package dev.crmn.jobs.finetune;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The rounds of the fine-tuning jobs running in this JVM, for observers in the same process (the local runner's
 * {@code --json} summary and live view, tests). On a cluster the log and the metrics carry the same reports.
 */
public final class FineTuneRounds {

    private static final List<RoundReport> ROUNDS = new CopyOnWriteArrayList<>();
    private static final List<Restore> RESTORES = new CopyOnWriteArrayList<>();

    /**
     * What a restored trainer kept of its state; {@code dropped} names the model the state belonged to when it was
     * dropped because the job now fine-tunes another (null when kept).
     */
    public record Restore(int reservoir, long reservoirSeen, int holdout, int newFrames, int pendingVersions,
                          String dropped) {
    }

    static void restored(Restore r) {
        RESTORES.add(r);
    }

    /** Every restore of a trainer in this JVM so far. */
    public static List<Restore> restores() {
        return List.copyOf(RESTORES);
    }

    private FineTuneRounds() {
    }

    static void record(RoundReport r) {
        ROUNDS.add(r);
    }

    /** Every round reported in this JVM so far, oldest first. */
    public static List<RoundReport> all() {
        return List.copyOf(ROUNDS);
    }

    public static void clear() {
        ROUNDS.clear();
        RESTORES.clear();
    }
}
