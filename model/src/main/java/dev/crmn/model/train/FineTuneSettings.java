package dev.crmn.model.train;

/**
 * Settings of a fine-tuning run ({@link FineTuning}): exactly {@code steps} optimisation steps of
 * {@code batchSize} images, with their own learning-rate schedule ({@link Schedule#COSINE}: warm-up over
 * {@code warmupFraction} of the steps, then a cosine from {@code learningRate} to 0; {@link Schedule#CONSTANT}:
 * the same warm-up, then {@code learningRate} to the end). With {@code averageDecay} above 0 the run also keeps
 * an exponential moving average of the weights (each step: {@code avg = d * avg + (1 - d) * weights}, starting
 * from the base's), and the candidate is that average. With {@code distillation} above 0 every image is trained
 * towards {@code (1 - distillation) * label + distillation * the base's prediction} (knowledge distillation from a
 * frozen copy of the base, temperature 1): the run keeps more of what the base did and learns the data more slowly
 * (a drifted camera: less forgotten, less adapted). {@code cutout} (pixels) and {@code labelSmoothing} are two more
 * regularisers, measured for the fine-tuning job and not used by it (docs/results.md): a square of each augmented
 * image set to the mean, and targets {@code (1 - s) * one-hot + s / classes}. Momentum and weight decay are the
 * checkpoint's. With {@code replicas} above 1 each step's batch is shared between that many copies of the network,
 * each on a thread of its own ({@link DataParallel}: the same step, faster where one step scales poorly over
 * threads). Build with {@link #builder()}; {@code build()} validates.
 */
public record FineTuneSettings(long steps, int batchSize, double learningRate, double warmupFraction, boolean augment,
                               long seed, boolean fastPath, Schedule schedule, double averageDecay,
                               double distillation, int cutout, double labelSmoothing, int replicas) {

    /** The learning rate over a run's steps, after the warm-up. */
    public enum Schedule {
        /** A cosine from the peak to 0 at the last step. */
        COSINE,
        /** The peak to the end (meant with weight averaging: the average anneals, not the rate). */
        CONSTANT
    }

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
        if (schedule == null) {
            throw new IllegalArgumentException("a learning-rate schedule is required");
        }
        if (averageDecay < 0 || averageDecay >= 1) {
            throw new IllegalArgumentException("weight-average decay must be in [0, 1) (0: no average), got " + averageDecay);
        }
        if (distillation < 0 || distillation >= 1) {
            throw new IllegalArgumentException("distillation weight must be in [0, 1) (0: none), got " + distillation);
        }
        if (cutout < 0) {
            throw new IllegalArgumentException("cutout must be >= 0 pixels (0: none), got " + cutout);
        }
        if (labelSmoothing < 0 || labelSmoothing >= 1) {
            throw new IllegalArgumentException("label smoothing must be in [0, 1) (0: none), got " + labelSmoothing);
        }
        if (replicas < 1) {
            throw new IllegalArgumentException("replicas must be >= 1, got " + replicas);
        }
    }

    /** Whether the training targets mix in the base's own predictions (see {@code distillation}). */
    public boolean distilling() {
        return distillation > 0;
    }

    /** Whether the run keeps a moving average of the weights (and the candidate is the average). */
    public boolean averaging() {
        return averageDecay > 0;
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Learning rate before step {@code step} (0-based). */
    public double learningRateAt(long step) {
        double progress = (double) step / steps;
        if (schedule == Schedule.CONSTANT) {
            return progress < warmupFraction ? TrainingSettings.warmupCosine(learningRate, warmupFraction, progress)
                    : learningRate;
        }
        return TrainingSettings.warmupCosine(learningRate, warmupFraction, progress);
    }

    /**
     * Defaults: batch 64, peak learning rate 0.02, 10 % warm-up, cosine, no weight average, augmentation on,
     * seed 42, fast path on, one replica.
     */
    public static final class Builder {
        private long steps = -1;
        private int batchSize = 64;
        private double learningRate = 0.02;
        private double warmupFraction = 0.1;
        private boolean augment = true;
        private long seed = RunRecord.DEFAULT_SEED;
        private boolean fastPath = true;
        private Schedule schedule = Schedule.COSINE;
        private double averageDecay;
        private double distillation;
        private int cutout;
        private double labelSmoothing;
        private int replicas = 1;

        public Builder steps(long v) { steps = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder learningRate(double v) { learningRate = v; return this; }
        public Builder warmupFraction(double v) { warmupFraction = v; return this; }
        public Builder augment(boolean v) { augment = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder fastPath(boolean v) { fastPath = v; return this; }
        public Builder schedule(Schedule v) { schedule = v; return this; }
        public Builder averageDecay(double v) { averageDecay = v; return this; }
        public Builder distillation(double v) { distillation = v; return this; }
        public Builder cutout(int v) { cutout = v; return this; }
        public Builder labelSmoothing(double v) { labelSmoothing = v; return this; }
        public Builder replicas(int v) { replicas = v; return this; }

        public FineTuneSettings build() {
            return new FineTuneSettings(steps, batchSize, learningRate, warmupFraction, augment, seed, fastPath, schedule,
                    averageDecay, distillation, cutout, labelSmoothing, replicas);
        }
    }
}
