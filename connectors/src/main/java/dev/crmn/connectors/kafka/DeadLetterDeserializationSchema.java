package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.DeadLetter;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/** Reads dead letters in Flink (e.g. to repair and replay them); records without dead-letter headers are skipped. */
public final class DeadLetterDeserializationSchema implements KafkaRecordDeserializationSchema<DeadLetter> {

    private static final Logger LOG = LoggerFactory.getLogger(DeadLetterDeserializationSchema.class);

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<DeadLetter> out) {
        try {
            out.collect(DeadLetter.fromRecord(r));
        } catch (RuntimeException e) {
            LOG.warn("skipping record without dead-letter headers at {}-{}-{}: {}", r.topic(), r.partition(), r.offset(),
                    e.getMessage());
        }
    }

    @Override
    public TypeInformation<DeadLetter> getProducedType() {
        return TypeInformation.of(DeadLetter.class);
    }
}
