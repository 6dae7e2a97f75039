package dev.crmn.jobs.finetune;

/**
 * One labelled image as the fine-tuning job keeps it in state: pixels in the model's input shape, class index,
 * and where it was read (partition and offset of the labelled topic), for the lineage of what a version trained on.
 */
public record Example(byte[] pixels, int label, int partition, long offset) {
}
