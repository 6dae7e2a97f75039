package dev.crmn.jobs.common;

import dev.crmn.model.data.PixelImage;
import dev.crmn.model.infer.Classifier;
import java.util.Arrays;
import java.util.List;
import java.util.Objects;
import java.util.function.IntFunction;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A batch through the network, with the fallback both inference paths use (the inference job's operator and the SQL
 * provider's function): when the batch throws, each image is classified alone and gets null where it still fails
 * (that one frame or row is bad: a dead letter, an error row). But when every image of a batch of several fails, or
 * {@link #MAX_FAILED_BATCHES} batches in a row fail entirely, the network is what is broken (an engine error, corrupt
 * native state), and answering the whole stream with failures while committing its offsets would lose it: the task
 * fails instead, and Flink restores it from the last checkpoint (the input is read again).
 *
 * <p>One per subtask (it counts the batches that failed in a row), used by one thread.
 */
public final class BatchFallback {

    public static final int MAX_FAILED_BATCHES = 3;
    private static final Logger LOG = LoggerFactory.getLogger(BatchFallback.class);

    private int failedInARow;

    /**
     * The probabilities of {@code images} (null where an image fails alone).
     *
     * @param model what runs, for the messages
     * @param name  the name of the {@code i}-th image in the log (a frame id)
     * @throws IllegalStateException when the network is broken (the rule above)
     */
    public float[][] probabilities(Classifier c, List<PixelImage> images, String model, IntFunction<String> name) {
        try {
            float[][] p = c.probabilities(images);
            failedInARow = 0;
            return p;
        } catch (RuntimeException batch) {
            LOG.warn("a batch of {} failed in {}: {}; classifying its images one by one", images.size(), model,
                    batch.toString());
            float[][] p = new float[images.size()][];
            for (int i = 0; i < images.size(); i++) {
                try {
                    p[i] = c.probabilities(List.of(images.get(i)))[0];
                } catch (RuntimeException e) {
                    LOG.warn("{} failed alone: {}", name.apply(i), e.toString());
                }
            }
            boolean all = Arrays.stream(p).allMatch(Objects::isNull);
            failedInARow = all ? failedInARow + 1 : 0;
            if (networkIsBroken(p.length, all, failedInARow)) {
                throw new IllegalStateException("the network failed on every image of " + (p.length > 1
                        ? "a batch of " + p.length : MAX_FAILED_BATCHES + " batches in a row") + " with " + model
                        + ": failing the task (Flink restores it; nothing is dead-lettered or committed)", batch);
            }
            return p;
        }
    }

    /**
     * The rule above: a batch of {@code images} in which {@code allFailed} (or not), the {@code inARow}-th batch in a
     * row to fail entirely.
     */
    public static boolean networkIsBroken(int images, boolean allFailed, int inARow) {
        return allFailed && (images > 1 || inARow >= MAX_FAILED_BATCHES);
    }
}
