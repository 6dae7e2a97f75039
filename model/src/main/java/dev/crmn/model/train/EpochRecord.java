package dev.crmn.model.train;

import com.fasterxml.jackson.annotation.JsonProperty;

/** Metrics of one training epoch. Accuracy on training data is measured on every 10th batch, in inference mode. */
public record EpochRecord(
        @JsonProperty("epoch") int epoch,
        @JsonProperty("iterations") long iterations,
        @JsonProperty("train_loss") double trainLoss,
        @JsonProperty("train_accuracy") double trainAccuracy,
        @JsonProperty("val_loss") double valLoss,
        @JsonProperty("val_accuracy") double valAccuracy,
        @JsonProperty("learning_rate") double learningRate,
        @JsonProperty("images_per_s") double imagesPerSecond,
        @JsonProperty("elapsed_s") double elapsedSeconds) {
}
