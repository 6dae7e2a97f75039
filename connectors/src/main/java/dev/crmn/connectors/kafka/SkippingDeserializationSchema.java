package dev.crmn.connectors.kafka;

import java.io.IOException;
import java.io.Serializable;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Base of the deserialisers for topics the project writes itself (predictions, model updates): a record
 * that does not parse is logged and skipped, never thrown, so a stray message cannot stop a job.
 * Tombstones (null values) are skipped silently.
 */
abstract class SkippingDeserializationSchema<T> implements KafkaRecordDeserializationSchema<T> {

    private static final Logger LOG = LoggerFactory.getLogger(SkippingDeserializationSchema.class);

    /** Parses a record value. */
    interface Parser<T> extends Serializable {
        T parse(byte[] value) throws IOException;
    }

    private final Parser<T> parser;
    private final Class<T> type;

    SkippingDeserializationSchema(Parser<T> parser, Class<T> type) {
        this.parser = parser;
        this.type = type;
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<T> out) {
        if (r.value() == null) {
            return;
        }
        try {
            out.collect(parser.parse(r.value()));
        } catch (IOException | RuntimeException e) {
            LOG.warn("skipping unreadable {} at {}-{}-{}: {}", type.getSimpleName(), r.topic(), r.partition(), r.offset(),
                    e.getMessage());
        }
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return TypeInformation.of(type);
    }
}
