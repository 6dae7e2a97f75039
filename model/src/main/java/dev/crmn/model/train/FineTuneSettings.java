package dev.crmn.model.train;

/**
 * Settings of a fine-tuning run ({@link FineTuning}): exactly {@code steps} optimisation steps of
 * {@code batchSize} images, with their own learning-rate schedule (warm-up over {@code warmupFraction} of the
 * steps, then a cosine from {@code learningRate} to 0). Momentum and weight decay are the checkpoint's. Build
 * with {@link #builder()}; {@code build()} validates.
 */
public record FineTuneSettings(long steps, int batchSize, double learningRate, double warmupFraction, boolean augment,
                               long seed, boolean fastPath) {

    public FineTuneSettings {
        if (steps < 1) {
            throw new IllegalArgumentException("a fine-tune trains at least one step, got " + steps);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        if (!(learningRate > 0)) {
            throw new IllegalArgumentException("learning rate must be > 0, got " + learningRate);
        }
        if (warmupFraction < 0 || warmupFraction >= 1) {
            throw new IllegalArgumentException("warm-up fraction must be in [0, 1), got " + warmupFraction);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Learning rate before step {@code step} (0-based). */
    public double learningRateAt(long step) {
        return TrainingSettings.warmupCosine(learningRate, warmupFraction, (double) step / steps);
    }

    /** Defaults: batch 64, peak learning rate 0.02, 10 % warm-up, augmentation on, seed 42, fast path on. */
    public static final class Builder {
        private long steps = -1;
        private int batchSize = 64;
        private double learningRate = 0.02;
        private double warmupFraction = 0.1;
        private boolean augment = true;
        private long seed = RunRecord.DEFAULT_SEED;
        private boolean fastPath = true;

        public Builder steps(long v) { steps = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder learningRate(double v) { learningRate = v; return this; }
        public Builder warmupFraction(double v) { warmupFraction = v; return this; }
        public Builder augment(boolean v) { augment = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder fastPath(boolean v) { fastPath = v; return this; }

        public FineTuneSettings build() {
            return new FineTuneSettings(steps, batchSize, learningRate, warmupFraction, augment, seed, fastPath);
        }
    }
}
