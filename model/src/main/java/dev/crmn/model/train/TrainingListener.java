package dev.crmn.model.train;

/** Progress callbacks of a {@link Trainer}; called on the training thread. */
public interface TrainingListener {

    /**
     * After each mini-batch.
     *
     * @param progress fraction of the run's budget used, in [0, 1]
     * @param loss     running mean loss of the epoch
     * @param accuracy running accuracy of the epoch (sampled batches), NaN before the first sample
     */
    default void onBatch(int epoch, long iteration, double progress, double loss, double accuracy,
                         double imagesPerSecond, double learningRate) {
    }

    /** After each epoch's evaluation. */
    default void onEpoch(EpochRecord record) {
    }

    TrainingListener NONE = new TrainingListener() {
    };
}
