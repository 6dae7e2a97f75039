package dev.crmn.jobs.quality;

/**
 * One frame id's side of the label join, in keyed state until {@code expires}: the serving and the shadow version's
 * predictions waiting for a late label (either may be null), or a late label waiting for its predictions (with where
 * it was read, for a dead letter).
 */
public record Waiting(Part serving, Part shadow, String label, String labelTopic, int labelPartition, long labelOffset,
                      long expires) {

    /** A prediction waiting for its label: the model version and its top class. */
    public record Part(String model, long version, String sha256, int predicted) {
    }

    static final Waiting NONE = new Waiting(null, null, null, null, -1, -1, 0);

    Waiting with(Part p, boolean shadow, long expires) {
        return shadow ? new Waiting(serving, p, label, labelTopic, labelPartition, labelOffset, expires)
                : new Waiting(p, shadow(), label, labelTopic, labelPartition, labelOffset, expires);
    }

    Waiting withLabel(String label, String topic, int partition, long offset, long expires) {
        return new Waiting(null, null, label, topic, partition, offset, expires);
    }
}
