package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.DeadLetter;

/** Reads dead letters in Flink (e.g. to repair and replay them); records without dead-letter headers are skipped and counted. */
public final class DeadLetterDeserializationSchema extends SkippingDeserializationSchema<DeadLetter> {

    public DeadLetterDeserializationSchema() {
        super(DeadLetter::fromRecord, DeadLetter.class, false);
    }
}
