package dev.crmn.model.config;

import com.fasterxml.jackson.annotation.JsonCreator;
import com.fasterxml.jackson.annotation.JsonIgnore;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Objects;

/**
 * Architecture of a Convolutional Residual Memory Network (or, with memory off, of the plain
 * wide residual network it is built on). Immutable; create with {@link #builder()}, which validates.
 *
 * <p>A WRN-d-k has a 3x3 stem convolution with 16 filters and three stages of {@code (d-4)/6}
 * pre-activation basic blocks with {@code 16k}, {@code 32k} and {@code 64k} filters (stride 2 between
 * stages). The memory is an LSTM that reads one vector per residual block, in depth order: the block's
 * output, spatially mean-pooled, projected to a common width ({@link MemoryInput}). Its last hidden state
 * is fused with the final pooled CNN features ({@link Fusion}) before the softmax classifier.
 *
 * <pre>{@code
 * CrmnConfig cfg = CrmnConfig.builder().depth(16).widen(4).lstmSize(256).classes(10).build();
 * }</pre>
 */
public final class CrmnConfig {

    /**
     * How block vectors of different widths (16k, 32k, 64k) reach the LSTM's common input width: each
     * block has its own learned projection (no bias) to {@code memoryInputSize} features.
     */
    public enum MemoryInput {
        /** Linear projection. */
        LINEAR,
        /** Projection followed by a ReLU. */
        RELU
    }

    /** How the LSTM's last hidden state meets the final pooled CNN features. */
    public enum Fusion {
        /** Concatenate [cnn features, lstm state] and feed the softmax layer. */
        CONCAT,
        /** Element-wise sum; needs {@code lstmSize == 64k}. */
        SUM
    }

    private final int depth;
    private final int widen;
    private final double dropout;
    private final boolean memory;
    private final int lstmSize;
    private final MemoryInput memoryInput;
    private final int memoryInputSize;
    private final Fusion fusion;
    private final int classes;
    private final int height;
    private final int width;
    private final int channels;

    @JsonCreator
    private CrmnConfig(
            @JsonProperty("depth") int depth,
            @JsonProperty("widen") int widen,
            @JsonProperty("dropout") double dropout,
            @JsonProperty("memory") boolean memory,
            @JsonProperty("lstm_size") int lstmSize,
            @JsonProperty("memory_input") MemoryInput memoryInput,
            @JsonProperty("memory_input_size") int memoryInputSize,
            @JsonProperty("fusion") Fusion fusion,
            @JsonProperty("classes") int classes,
            @JsonProperty("height") int height,
            @JsonProperty("width") int width,
            @JsonProperty("channels") int channels) {
        this.depth = depth;
        this.widen = widen;
        this.dropout = dropout;
        this.memory = memory;
        this.lstmSize = lstmSize;
        this.memoryInput = memoryInput == null ? MemoryInput.LINEAR : memoryInput;
        this.memoryInputSize = memoryInputSize;
        this.fusion = fusion == null ? Fusion.CONCAT : fusion;
        this.classes = classes;
        this.height = height;
        this.width = width;
        this.channels = channels;
        validate();
    }

    private void validate() {
        require(depth >= 10 && (depth - 4) % 6 == 0, "depth must be 6n+4 with n >= 1 (10, 16, 22, 28, ...), got " + depth);
        require(widen >= 1, "widen must be >= 1, got " + widen);
        require(dropout >= 0 && dropout < 1, "dropout must be in [0, 1), got " + dropout);
        require(classes >= 2, "classes must be >= 2, got " + classes);
        require(height >= 8 && width >= 8, "input must be at least 8x8, got " + height + "x" + width);
        require(channels == 1 || channels == 3, "channels must be 1 or 3, got " + channels);
        if (memory) {
            require(lstmSize >= 1, "lstm_size must be >= 1 when memory is on, got " + lstmSize);
            require(memoryInputSize >= 1, "memory_input_size must be >= 1, got " + memoryInputSize);
            require(fusion != Fusion.SUM || lstmSize == stageWidth(2),
                    "SUM fusion needs lstm_size == final width " + stageWidth(2) + ", got " + lstmSize);
        }
    }

    private static void require(boolean ok, String message) {
        if (!ok) {
            throw new IllegalArgumentException(message);
        }
    }

    public static Builder builder() {
        return new Builder();
    }

    public Builder toBuilder() {
        return new Builder().depth(depth).widen(widen).dropout(dropout).memory(memory).lstmSize(lstmSize)
                .memoryInput(memoryInput).memoryInputSize(memoryInputSize).fusion(fusion).classes(classes)
                .input(height, width, channels);
    }

    /** Residual blocks per stage, {@code (depth - 4) / 6}. */
    @JsonIgnore
    public int blocksPerStage() {
        return (depth - 4) / 6;
    }

    /** Total residual blocks, which is also the number of LSTM time steps. */
    @JsonIgnore
    public int totalBlocks() {
        return 3 * blocksPerStage();
    }

    /** Filters of stage {@code s} (0, 1, 2): 16k, 32k, 64k. */
    public int stageWidth(int s) {
        return (16 << s) * widen;
    }

    @JsonProperty("depth") public int depth() { return depth; }
    @JsonProperty("widen") public int widen() { return widen; }
    @JsonProperty("dropout") public double dropout() { return dropout; }
    @JsonProperty("memory") public boolean memory() { return memory; }
    @JsonProperty("lstm_size") public int lstmSize() { return lstmSize; }
    @JsonProperty("memory_input") public MemoryInput memoryInput() { return memoryInput; }
    @JsonProperty("memory_input_size") public int memoryInputSize() { return memoryInputSize; }
    @JsonProperty("fusion") public Fusion fusion() { return fusion; }
    @JsonProperty("classes") public int classes() { return classes; }
    @JsonProperty("height") public int height() { return height; }
    @JsonProperty("width") public int width() { return width; }
    @JsonProperty("channels") public int channels() { return channels; }

    /** "CRMN-16-4" or "WRN-16-4". */
    @JsonIgnore
    public String shortName() {
        return (memory ? "CRMN-" : "WRN-") + depth + "-" + widen;
    }

    @Override
    public boolean equals(Object o) {
        if (!(o instanceof CrmnConfig c)) {
            return false;
        }
        return depth == c.depth && widen == c.widen && Double.compare(dropout, c.dropout) == 0
                && memory == c.memory && lstmSize == c.lstmSize && memoryInput == c.memoryInput
                && memoryInputSize == c.memoryInputSize && fusion == c.fusion && classes == c.classes
                && height == c.height && width == c.width && channels == c.channels;
    }

    @Override
    public int hashCode() {
        return Objects.hash(depth, widen, dropout, memory, lstmSize, memoryInput, memoryInputSize, fusion,
                classes, height, width, channels);
    }

    @Override
    public String toString() {
        return shortName() + "{dropout=" + dropout + (memory ? ", lstm=" + lstmSize + ", memoryInput="
                + memoryInput + "(" + memoryInputSize + "), fusion=" + fusion : "") + ", classes=" + classes
                + ", input=" + height + "x" + width + "x" + channels + "}";
    }

    /** Builder with the defaults documented in docs/model.md. */
    public static final class Builder {
        private int depth = 16;
        private int widen = 4;
        private double dropout = 0.0;
        private boolean memory = true;
        private int lstmSize = 128;
        private MemoryInput memoryInput = MemoryInput.LINEAR;
        private int memoryInputSize = 64;
        private Fusion fusion = Fusion.CONCAT;
        private int classes = 10;
        private int height = 32;
        private int width = 32;
        private int channels = 3;

        public Builder depth(int v) { this.depth = v; return this; }
        public Builder widen(int v) { this.widen = v; return this; }
        public Builder dropout(double v) { this.dropout = v; return this; }
        public Builder memory(boolean v) { this.memory = v; return this; }
        public Builder lstmSize(int v) { this.lstmSize = v; return this; }
        public Builder memoryInput(MemoryInput v) { this.memoryInput = v; return this; }
        public Builder memoryInputSize(int v) { this.memoryInputSize = v; return this; }
        public Builder fusion(Fusion v) { this.fusion = v; return this; }
        public Builder classes(int v) { this.classes = v; return this; }

        public Builder input(int height, int width, int channels) {
            this.height = height;
            this.width = width;
            this.channels = channels;
            return this;
        }

        /** Validates and builds; throws {@link IllegalArgumentException} naming the bad setting. */
        public CrmnConfig build() {
            return new CrmnConfig(depth, widen, dropout, memory, lstmSize, memoryInput, memoryInputSize, fusion,
                    classes, height, width, channels);
        }
    }
}
