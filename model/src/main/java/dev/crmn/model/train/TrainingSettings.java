package dev.crmn.model.train;

import org.deeplearning4j.nn.conf.CNN2DFormat;

/**
 * Settings of a training run. Build with {@link #builder()}; {@code build()} validates.
 *
 * <p>The learning rate follows a cosine from {@code learningRate} to 0 over the run's budget, after a
 * linear warm-up over the first {@code warmupFraction} of it. The budget is whichever ends first of
 * {@code epochs} and {@code maxMinutes}: progress is {@code max(iterations / planned iterations,
 * elapsed / maxMinutes)}, so a time-limited run still anneals to the end.
 *
 * <p>{@code layout} (NHWC) and {@code fastPath} ({@link TrainingFastPath}) are the training part of the CPU
 * fast path; both are on by default.
 */
public record TrainingSettings(int epochs, double maxMinutes, int batchSize, double learningRate, double momentum,
                               double weightDecay, double warmupFraction, boolean augment, int holdout, long seed,
                               CNN2DFormat layout, boolean fastPath, int stopAfterEpochs) {

    public TrainingSettings {
        if (epochs < 1) {
            throw new IllegalArgumentException("epochs must be >= 1, got " + epochs);
        }
        if (maxMinutes < 0) {
            throw new IllegalArgumentException("max-minutes must be >= 0 (0 = no limit), got " + maxMinutes);
        }
        if (batchSize < 1) {
            throw new IllegalArgumentException("batch size must be >= 1, got " + batchSize);
        }
        if (!(learningRate > 0) || momentum < 0 || momentum >= 1 || weightDecay < 0) {
            throw new IllegalArgumentException("bad optimiser settings lr=" + learningRate + " momentum=" + momentum
                    + " weight decay=" + weightDecay);
        }
        if (warmupFraction < 0 || warmupFraction >= 1) {
            throw new IllegalArgumentException("warm-up fraction must be in [0, 1), got " + warmupFraction);
        }
        if (holdout < 0) {
            throw new IllegalArgumentException("holdout must be >= 0, got " + holdout);
        }
        if (stopAfterEpochs < 0) {
            throw new IllegalArgumentException("stop-after-epochs must be >= 0 (0 = run to the end), got " + stopAfterEpochs);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    /** Learning rate at {@code progress} in [0, 1]. */
    public double learningRateAt(double progress) {
        return warmupCosine(learningRate, warmupFraction, progress);
    }

    /**
     * The schedule of every run: linear warm-up from 10 % of {@code peak} over the first {@code warmupFraction}
     * of the budget, then a cosine from {@code peak} to 0 at {@code progress} 1.
     */
    public static double warmupCosine(double peak, double warmupFraction, double progress) {
        double p = Math.min(1, Math.max(0, progress));
        if (warmupFraction > 0 && p < warmupFraction) {
            return peak * (0.1 + 0.9 * p / warmupFraction);
        }
        double q = warmupFraction > 0 ? (p - warmupFraction) / (1 - warmupFraction) : p;
        return peak * 0.5 * (1 + Math.cos(Math.PI * q));
    }

    /** Builder with defaults: 30 epochs, no time limit, batch 128, lr 0.1, momentum 0.9, weight decay 5e-4. */
    public static final class Builder {
        private int epochs = 30;
        private double maxMinutes = 0;
        private int batchSize = 128;
        private double learningRate = 0.1;
        private double momentum = 0.9;
        private double weightDecay = 5e-4;
        private double warmupFraction = 0.02;
        private boolean augment = true;
        private int holdout = 2000;
        private long seed = 42;
        private CNN2DFormat layout = CNN2DFormat.NHWC;
        private boolean fastPath = true;
        private int stopAfterEpochs = 0;

        public Builder epochs(int v) { epochs = v; return this; }
        public Builder maxMinutes(double v) { maxMinutes = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder learningRate(double v) { learningRate = v; return this; }
        public Builder momentum(double v) { momentum = v; return this; }
        public Builder weightDecay(double v) { weightDecay = v; return this; }
        public Builder warmupFraction(double v) { warmupFraction = v; return this; }
        public Builder augment(boolean v) { augment = v; return this; }
        public Builder holdout(int v) { holdout = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder layout(CNN2DFormat v) { layout = v; return this; }
        public Builder fastPath(boolean v) { fastPath = v; return this; }
        /** Stop after this many epochs of this call, before the schedule ends (a snapshot to resume); 0 = run to the end. */
        public Builder stopAfterEpochs(int v) { stopAfterEpochs = v; return this; }

        public TrainingSettings build() {
            return new TrainingSettings(epochs, maxMinutes, batchSize, learningRate, momentum, weightDecay,
                    warmupFraction, augment, holdout, seed, layout, fastPath, stopAfterEpochs);
        }
    }
}
