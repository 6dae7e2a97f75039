package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;

/** Reads predictions in Flink; records that are not predictions of a known schema are skipped and counted. */
public final class PredictionDeserializationSchema extends SkippingDeserializationSchema<Prediction> {

    public PredictionDeserializationSchema() {
        super(r -> PredictionJson.fromBytes(r.value()), Prediction.class, true);
    }
}
