package dev.crmn.model.train;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import java.util.List;
import java.util.Map;

/**
 * What a checkpoint's manifest records of the run that trained it: position in its schedule, history and
 * the held-out split (size and seed), so that a resumed or fine-tuned run evaluates on the same held-out
 * images and never on images the model was trained on.
 *
 * @param holdout        images held out of the training data
 * @param seed           the seed of the split (and of the run's shuffling and augmentation)
 * @param iterations     optimisation steps so far
 * @param epochs         epochs completed
 * @param elapsedSeconds training time so far
 * @param history        per-epoch records
 */
public record RunRecord(int holdout, long seed, long iterations, int epochs, double elapsedSeconds,
                        List<EpochRecord> history) {

    /** The seed {@code crmn train} uses when none is given. */
    public static final long DEFAULT_SEED = 42;

    /** The run recorded in {@code m} (fields the manifest lacks take the defaults of {@code crmn train}). */
    public static RunRecord of(Manifest m) {
        Map<String, Object> t = m.training() == null ? Map.of() : m.training();
        Object settings = t.get("settings");
        Object seed = t.containsKey("split_seed") ? t.get("split_seed")
                : settings instanceof Map<?, ?> s ? s.get("seed") : null;
        Object h = t.get("history");
        List<EpochRecord> history = h == null ? List.of()
                : List.of(Checkpoints.json().convertValue(h, EpochRecord[].class));
        return new RunRecord(number(t.get("holdout"), 0).intValue(), number(seed, DEFAULT_SEED).longValue(),
                number(t.get("iterations"), 0).longValue(), number(t.get("epochs_completed"), 0).intValue(),
                number(t.get("elapsed_s"), 0.0).doubleValue(), history);
    }

    private static Number number(Object v, Number fallback) {
        return v instanceof Number n ? n : fallback;
    }
}
