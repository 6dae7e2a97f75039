package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;

/** Reads predictions in Flink; records that are not predictions of a known schema are skipped. */
public final class PredictionDeserializationSchema extends SkippingDeserializationSchema<Prediction> {

    public PredictionDeserializationSchema() {
        super(PredictionJson::fromBytes, Prediction.class);
    }
}
