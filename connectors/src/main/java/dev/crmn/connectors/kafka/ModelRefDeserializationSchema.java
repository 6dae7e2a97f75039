package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import java.io.IOException;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Reads {@link ModelRef}s from the model-updates topic. Tombstones are skipped; a record that is not a
 * valid model reference is logged and skipped, so a bad control message cannot stop a job.
 */
public final class ModelRefDeserializationSchema implements KafkaRecordDeserializationSchema<ModelRef> {

    private static final Logger LOG = LoggerFactory.getLogger(ModelRefDeserializationSchema.class);

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<ModelRef> out) {
        if (r.value() == null) {
            return;
        }
        try {
            out.collect(ModelRefJson.fromBytes(r.value()));
        } catch (IOException | RuntimeException e) {
            LOG.warn("skipping invalid model reference at {}-{}-{}: {}", r.topic(), r.partition(), r.offset(), e.getMessage());
        }
    }

    @Override
    public TypeInformation<ModelRef> getProducedType() {
        return TypeInformation.of(ModelRef.class);
    }
}
