package dev.crmn.connectors.format;

/** Default topic names (public contract; see docs/wire-format.md). */
public final class Topics {

    public static final String FRAMES = "frames";
    public static final String FRAMES_LABELLED = "frames-labelled";
    public static final String PREDICTIONS = "predictions";
    public static final String DEAD_LETTERS = "dead-letters";
    public static final String MODEL_UPDATES = "model-updates";
    /** Labels that arrive after their frames (key the frame id; {@link LateLabel}). */
    public static final String LABELS = "labels";
    /** A shadow version's predictions (same format as predictions; never read as served predictions). */
    public static final String SHADOW_PREDICTIONS = "shadow-predictions";
    /** The quality job's latest figures per model version (compacted; key {@code name/vN}; {@link ModelQuality}). */
    public static final String MODEL_QUALITY = "model-quality";

    private Topics() {
    }
}
