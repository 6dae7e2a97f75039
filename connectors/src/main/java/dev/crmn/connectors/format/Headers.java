package dev.crmn.connectors.format;

/** Kafka header names (public contract; see docs/wire-format.md). */
public final class Headers {

    /** Frame: {@code image/png}, {@code image/jpeg} or {@code application/x-raw; format=rgb8|gray8; width=W; height=H}. */
    public static final String CONTENT_TYPE = "content-type";
    /** Frame: producer-chosen id; defaults to {@code <topic>-<partition>-<offset>}. */
    public static final String FRAME_ID = "frame-id";
    /** Frame: event time, epoch milliseconds (decimal) or an ISO-8601 instant. */
    public static final String EVENT_TIME = "event-time";
    /** Frame: class index (decimal) or class name; required on the labelled topic. */
    public static final String LABEL = "label";

    /** Dead letter: one of {@link DeadLetterReason}'s wire names. */
    public static final String ERROR_REASON = "error-reason";
    /** Dead letter: human-readable detail. */
    public static final String ERROR_DETAIL = "error-detail";
    public static final String SOURCE_TOPIC = "source-topic";
    public static final String SOURCE_PARTITION = "source-partition";
    public static final String SOURCE_OFFSET = "source-offset";
    public static final String SOURCE_TIMESTAMP = "source-timestamp";
    /**
     * Dead letter of a frame that decoded but could not be classified, when its value was larger than
     * {@link FrameDecoder#KEPT_VALUE_BYTES}: the value's length in bytes (the dead letter's value is then empty; the
     * frame is at {@code source-topic}/{@code source-partition}/{@code source-offset}).
     */
    public static final String VALUE_OMITTED = "value-omitted";
    /** Dead letter: format version of the dead-letter headers. */
    public static final String DEAD_LETTER_SCHEMA = "dead-letter-schema";

    private Headers() {
    }
}
