package dev.crmn.jobs.common;

import dev.crmn.connectors.image.DecoderSettings;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;

/**
 * The decode budgets both jobs take (docs/wire-format.md): a frame over either is dead-lettered as
 * {@code too-large} before it is decoded, so one oversized or malicious frame cannot exhaust a TaskManager's memory.
 */
public final class DecodeOptions {

    public static final ConfigOption<Long> MAX_FRAME_BYTES = ConfigOptions.key("max-frame-bytes").longType()
            .defaultValue(DecoderSettings.defaults().maxBytes()).withDescription("Largest frame value accepted, in bytes"
                    + " (default 16 MiB); larger frames are dead-lettered as too-large.");
    public static final ConfigOption<Long> MAX_FRAME_PIXELS = ConfigOptions.key("max-frame-pixels").longType()
            .defaultValue(DecoderSettings.defaults().maxPixels()).withDescription("Largest width x height a frame's"
                    + " header may claim (default 16 M, e.g. 4096 x 4096), checked before decoding; larger frames are"
                    + " dead-lettered as too-large.");

    private DecodeOptions() {
    }

    /** The decoder settings {@code c} asks for. */
    public static DecoderSettings settings(Configuration c) {
        long bytes = c.get(MAX_FRAME_BYTES);
        long pixels = c.get(MAX_FRAME_PIXELS);
        if (bytes < 1 || pixels < 1) {
            throw new IllegalArgumentException("--max-frame-bytes and --max-frame-pixels must be >= 1");
        }
        return DecoderSettings.defaults().withMaxBytes(bytes).withMaxPixels(pixels);
    }
}
