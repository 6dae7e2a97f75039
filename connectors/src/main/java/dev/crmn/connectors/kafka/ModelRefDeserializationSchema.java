package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;

/** Reads {@link ModelRef}s from the model-updates topic; invalid records and tombstones are skipped and counted. */
public final class ModelRefDeserializationSchema extends SkippingDeserializationSchema<ModelRef> {

    public ModelRefDeserializationSchema() {
        super(r -> ModelRefJson.fromBytes(r.value()), ModelRef.class, true);
    }
}
