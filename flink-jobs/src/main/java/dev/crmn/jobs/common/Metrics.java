package dev.crmn.jobs.common;

import dev.crmn.connectors.format.DeadLetterReason;
import java.util.EnumMap;
import java.util.Map;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;

/** Names of the jobs' metrics (operator metric groups; every Flink reporter and the web UI show them). */
public final class Metrics {

    public static final String FRAMES_DECODED = "framesDecoded";
    /** Group of the per-reason dead-letter counters ({@code deadLetters.<reason wire name>}). */
    public static final String DEAD_LETTERS = "deadLetters";
    public static final String BATCH_SIZE = "batchSize";
    public static final String QUEUE_TIME_MS = "queueTimeMs";
    public static final String INFERENCE_TIME_MS = "inferenceTimeMs";
    public static final String FRAMES_PER_SECOND = "framesPerSecond";
    public static final String FRAMES_CLASSIFIED = "framesClassified";
    public static final String ACTIVE_MODEL_VERSION = "activeModelVersion";
    /** The shadow version scored beside the active one; -1 when none. */
    public static final String SHADOW_MODEL_VERSION = "shadowModelVersion";
    /** Frames the shadow version scored. */
    public static final String SHADOW_FRAMES_SCORED = "shadowFramesScored";
    public static final String SWAPS = "modelSwaps";
    public static final String SWAPS_REFUSED = "modelSwapsRefused";
    public static final String BACKEND = "backend";
    public static final String NATIVE_ARRAY_BYTES = "nativeArrayBytes";

    private Metrics() {
    }

    /** One counter per dead-letter reason in {@code group.deadLetters}. */
    public static Map<DeadLetterReason, Counter> deadLetterCounters(MetricGroup group) {
        MetricGroup g = group.addGroup(DEAD_LETTERS);
        Map<DeadLetterReason, Counter> m = new EnumMap<>(DeadLetterReason.class);
        for (DeadLetterReason r : DeadLetterReason.values()) {
            m.put(r, g.counter(r.wireName()));
        }
        return m;
    }
}
