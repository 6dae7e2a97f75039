package dev.crmn.connectors.image;

import java.io.Serializable;

/**
 * Limits and policies of frame decoding.
 *
 * @param maxBytes   largest accepted frame value (default 16 MiB)
 * @param maxPixels  largest accepted width x height, checked from the header before decoding (default 16 M)
 * @param sizePolicy what to do with a frame whose size differs from the model's input (default RESIZE)
 */
public record DecoderSettings(long maxBytes, long maxPixels, SizePolicy sizePolicy) implements Serializable {

    /** Frames whose size differs from the model's input. */
    public enum SizePolicy {
        /** Bilinear resize to the model's input size (aspect ratio is not preserved). */
        RESIZE,
        /** Dead-letter with reason {@code wrong-dimensions}. */
        REFUSE
    }

    public DecoderSettings {
        if (maxBytes <= 0 || maxPixels <= 0 || sizePolicy == null) {
            throw new IllegalArgumentException("maxBytes and maxPixels must be > 0 and sizePolicy set");
        }
    }

    public static DecoderSettings defaults() {
        return new DecoderSettings(16L << 20, 16L << 20, SizePolicy.RESIZE);
    }

    public DecoderSettings withSizePolicy(SizePolicy p) {
        return new DecoderSettings(maxBytes, maxPixels, p);
    }

    public DecoderSettings withMaxPixels(long p) {
        return new DecoderSettings(maxBytes, p, sizePolicy);
    }

    public DecoderSettings withMaxBytes(long b) {
        return new DecoderSettings(b, maxPixels, sizePolicy);
    }
}
