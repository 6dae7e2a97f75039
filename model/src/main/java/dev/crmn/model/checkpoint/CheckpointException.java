package dev.crmn.model.checkpoint;

import java.io.IOException;

/** A checkpoint that cannot be written, read, or trusted; the message says which and why. */
public class CheckpointException extends IOException {

    public CheckpointException(String message) {
        super(message);
    }

    public CheckpointException(String message, Throwable cause) {
        super(message, cause);
    }
}
