package dev.crmn.jobs.finetune;

/**
 * A promoted version waiting to be published and announced: its manifest and model zip, in operator state until
 * the checkpoint that holds it completes.
 */
public record PendingVersion(long version, byte[] manifestJson, byte[] zip) {
}
