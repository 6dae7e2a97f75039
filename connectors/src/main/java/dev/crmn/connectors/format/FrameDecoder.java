package dev.crmn.connectors.format;

import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.image.DecoderSettings;
import dev.crmn.connectors.image.ImageDecoder;
import dev.crmn.model.data.PixelImage;
import java.io.Serializable;
import java.time.Instant;
import java.time.format.DateTimeParseException;
import java.util.List;

/**
 * Turns a consumed {@link Frame} into a {@link DecodedFrame} for a model with the given input size and
 * labels, or rejects it with a {@link FrameRejectedException} whose reason becomes the dead letter's
 * {@code error-reason}; an unexpected {@code RuntimeException} inside a decoder becomes
 * {@code internal-error}. {@code Error}s ({@code OutOfMemoryError} and the like) propagate: they say the
 * process, not the frame, is in trouble. Thread-safe.
 */
public final class FrameDecoder implements Serializable {

    private final int height;
    private final int width;
    private final int channels;
    private final List<String> labels;
    private final boolean labelRequired;
    private final ImageDecoder images;

    /**
     * @param labelRequired frames without a {@code label} header are rejected ({@code missing-label}): the
     *                      labelled topic used for fine-tuning
     */
    public FrameDecoder(int height, int width, int channels, List<String> labels, boolean labelRequired,
                        DecoderSettings settings) {
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.labels = List.copyOf(labels);
        this.labelRequired = labelRequired;
        this.images = new ImageDecoder(settings);
    }

    /**
     * The largest value a decoded frame carries along for its dead letter (should it fail to classify after all):
     * a larger one is dropped, so a micro-batch of decoded frames and the network buffers between decoding and
     * inference hold at most this much per frame beside its pixels, not the up to 16 MiB a frame may have.
     */
    public static final int KEPT_VALUE_BYTES = 256 * 1024;

    public DecodedFrame decode(Frame f) throws FrameRejectedException {
        try {
            byte[] value = f.value();
            if (value == null || value.length == 0) {
                throw new FrameRejectedException(DeadLetterReason.EMPTY_VALUE, "the frame has no bytes");
            }
            int label = parseLabel(f.header(Headers.LABEL));
            long eventTime = parseEventTime(f.header(Headers.EVENT_TIME));
            ContentType type = ContentType.of(f.header(Headers.CONTENT_TYPE), value);
            PixelImage img = images.fit(images.decode(type, value), height, width, channels);
            return new DecodedFrame(f.frameId(), f.keyString(), f.topic(), f.partition(), f.offset(), f.timestamp(),
                    eventTime, label, img, value.length <= KEPT_VALUE_BYTES ? f : withoutValue(f));
        } catch (FrameRejectedException e) {
            throw e;
        } catch (RuntimeException e) {
            // a decoder bug or an input that trips one: its own reason, so it is not mistaken for a bad image
            throw new FrameRejectedException(DeadLetterReason.INTERNAL_ERROR, "unexpected decoder failure: " + e, e);
        }
    }

    /** {@code f} without its value, and a {@link Headers#VALUE_OMITTED} header with the value's length. */
    static Frame withoutValue(Frame f) {
        String[] keys = java.util.Arrays.copyOf(f.headerKeys(), f.headerKeys().length + 1);
        byte[][] values = java.util.Arrays.copyOf(f.headerValues(), f.headerValues().length + 1);
        keys[keys.length - 1] = Headers.VALUE_OMITTED;
        values[values.length - 1] = Integer.toString(f.value().length).getBytes(java.nio.charset.StandardCharsets.UTF_8);
        return new Frame(f.topic(), f.partition(), f.offset(), f.timestamp(), f.key(), new byte[0], keys, values);
    }

    /** The class index of a label header value (index or name), -1 when absent and not required. */
    public int parseLabel(String header) throws FrameRejectedException {
        return parseLabel(header, labels, labelRequired);
    }

    /**
     * The class index of a label header value: a decimal class index or a class name (case-insensitive);
     * -1 when absent and not required.
     *
     * @throws FrameRejectedException {@code missing-label} or {@code bad-label}
     */
    public static int parseLabel(String header, List<String> labels, boolean labelRequired) throws FrameRejectedException {
        if (header == null || header.isBlank()) {
            if (labelRequired) {
                throw new FrameRejectedException(DeadLetterReason.MISSING_LABEL, "this topic needs a label header");
            }
            return -1;
        }
        String v = header.trim();
        if (v.chars().allMatch(Character::isDigit) || (v.startsWith("-") && v.length() > 1 && v.substring(1).chars().allMatch(Character::isDigit))) {
            long idx;
            try {
                idx = Long.parseLong(v);
            } catch (NumberFormatException e) {
                idx = Long.MAX_VALUE;
            }
            if (idx < 0 || idx >= labels.size()) {
                throw new FrameRejectedException(DeadLetterReason.BAD_LABEL, "label index " + v + " is outside 0.."
                        + (labels.size() - 1));
            }
            return (int) idx;
        }
        for (int i = 0; i < labels.size(); i++) {
            if (labels.get(i).equalsIgnoreCase(v)) {
                return i;
            }
        }
        throw new FrameRejectedException(DeadLetterReason.BAD_LABEL, "unknown class name '" + v + "' (known: "
                + String.join(", ", labels) + ")");
    }

    static long parseEventTime(String header) throws FrameRejectedException {
        if (header == null || header.isBlank()) {
            return -1;
        }
        String v = header.trim();
        try {
            long ms = Long.parseLong(v);
            if (ms >= 0) {
                return ms;
            }
        } catch (NumberFormatException e) {
            try {
                return Instant.parse(v).toEpochMilli();
            } catch (DateTimeParseException ignored) {
                // fall through
            }
        }
        throw new FrameRejectedException(DeadLetterReason.BAD_HEADER, "event-time '" + v
                + "' is neither epoch milliseconds nor an ISO-8601 instant");
    }
}
