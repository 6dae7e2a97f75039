package dev.crmn.jobs.quality;

/**
 * One frame id's side of the label join waiting for the other, in keyed state until {@code --max-label-delay}
 * after {@code since}: a prediction without a label waiting for a late one ({@code model} set), or a late label
 * that came before its prediction ({@code label} set, with where it was read, for a dead letter).
 */
public record Waiting(String model, long version, String sha256, int predicted, String label, String labelTopic,
                      int labelPartition, long labelOffset, long since) {

    static Waiting prediction(String model, long version, String sha256, int predicted, long since) {
        return new Waiting(model, version, sha256, predicted, null, null, -1, -1, since);
    }

    static Waiting label(String label, String topic, int partition, long offset, long since) {
        return new Waiting(null, -1, null, -1, label, topic, partition, offset, since);
    }

    boolean isPrediction() {
        return model != null;
    }
}
