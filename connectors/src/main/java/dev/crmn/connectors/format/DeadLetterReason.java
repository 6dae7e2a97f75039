package dev.crmn.connectors.format;

import java.util.Locale;

/** Why a frame went to the dead-letter topic. The wire name is the {@code error-reason} header value. */
public enum DeadLetterReason {
    /** The value is empty. */
    EMPTY_VALUE,
    /** The content type is not PNG, JPEG or raw (or absent and the bytes are neither PNG nor JPEG). */
    UNKNOWN_CONTENT_TYPE,
    /** A header is malformed (raw parameters, event time, ...). */
    BAD_HEADER,
    /** The bytes do not decode as the image they claim to be. */
    UNDECODABLE_IMAGE,
    /** Over the byte or pixel budget (checked before decoding). */
    TOO_LARGE,
    /** Raw pixels disagree with the declared size, or the size differs from the model's and the policy refuses. */
    WRONG_DIMENSIONS,
    /** The label is neither a valid class index nor a known class name. */
    BAD_LABEL,
    /** A labelled topic's frame has no label. */
    MISSING_LABEL,
    /** A decoder failed unexpectedly (a bug, or an input that trips one in the JDK's decoders); the detail names the exception. */
    INTERNAL_ERROR,
    /** The frame could not be classified (an internal error); the detail says why. */
    INFERENCE_FAILED,
    /** A record of a topic the quality job reads (a prediction, a late label) does not parse; the detail says why. */
    BAD_RECORD;

    /** The header value, e.g. {@code unknown-content-type}. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    /** The reason with this wire name. */
    public static DeadLetterReason fromWireName(String wire) {
        for (DeadLetterReason r : values()) {
            if (r.wireName().equals(wire)) {
                return r;
            }
        }
        throw new IllegalArgumentException("unknown dead-letter reason '" + wire + "'");
    }
}
