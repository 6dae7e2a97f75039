package dev.crmn.connectors.store;

import dev.crmn.model.checkpoint.CheckpointException;

/**
 * A version number another checkpoint already holds in the store (one version number names one checkpoint). A
 * publisher that allocated the number itself, like the fine-tuning job, renumbers its checkpoint and publishes again.
 */
public final class VersionTakenException extends CheckpointException {

    public VersionTakenException(String message) {
        super(message);
    }
}
