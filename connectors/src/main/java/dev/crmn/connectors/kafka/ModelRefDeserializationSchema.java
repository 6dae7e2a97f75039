package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;

/** Reads {@link ModelRef}s from the model-updates topic; invalid records and tombstones are skipped. */
public final class ModelRefDeserializationSchema extends SkippingDeserializationSchema<ModelRef> {

    public ModelRefDeserializationSchema() {
        super(ModelRefJson::fromBytes, ModelRef.class);
    }
}
