package dev.crmn.jobs.quality;

/** A late label as read from the labels topic: the frame it labels, the label as sent, and where it was read. */
public record LabelRecord(String frameId, String label, String topic, int partition, long offset) {
}
