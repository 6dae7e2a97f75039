package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import java.io.IOException;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reads predictions in Flink; records that are not predictions of a known schema are logged and skipped. */
public final class PredictionDeserializationSchema implements KafkaRecordDeserializationSchema<Prediction> {

    private static final Logger LOG = LoggerFactory.getLogger(PredictionDeserializationSchema.class);

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<Prediction> out) {
        if (r.value() == null) {
            return;
        }
        try {
            out.collect(PredictionJson.fromBytes(r.value()));
        } catch (IOException | RuntimeException e) {
            LOG.warn("skipping unreadable prediction at {}-{}-{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
        }
    }

    @Override
    public TypeInformation<Prediction> getProducedType() {
        return TypeInformation.of(Prediction.class);
    }
}
