package dev.crmn.connectors.format;

/** A frame that cannot be used; maps one to one to a dead letter. */
public final class FrameRejectedException extends Exception {

    private final DeadLetterReason reason;

    public FrameRejectedException(DeadLetterReason reason, String detail) {
        super(detail);
        this.reason = reason;
    }

    public FrameRejectedException(DeadLetterReason reason, String detail, Throwable cause) {
        super(detail, cause);
        this.reason = reason;
    }

    public DeadLetterReason reason() {
        return reason;
    }

    /** The human-readable detail. */
    public String detail() {
        return getMessage();
    }
}
