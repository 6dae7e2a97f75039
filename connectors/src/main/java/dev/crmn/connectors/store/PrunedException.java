package dev.crmn.connectors.store;

import dev.crmn.model.checkpoint.CheckpointException;

/**
 * A version whose weights were deleted on purpose ({@link ModelStore#prune}): it can no longer be fetched, verified,
 * served or rolled back to. Not damage: {@code crmn models} lists it without failing.
 */
public final class PrunedException extends CheckpointException {

    public PrunedException(String message) {
        super(message);
    }
}
