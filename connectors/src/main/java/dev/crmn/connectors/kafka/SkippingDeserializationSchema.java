package dev.crmn.connectors.kafka;

import java.io.IOException;
import java.io.Serializable;
import org.apache.flink.api.common.serialization.DeserializationSchema;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.SimpleCounter;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Base of the deserialisers for topics the project writes itself (predictions, model updates, dead
 * letters): a record that does not parse is logged and skipped, never thrown, so a stray message cannot stop
 * a job. Where values are required, tombstones (null values) are skipped too. Both are counted, as the source's metrics
 * {@value #SKIPPED_METRIC} and {@value #TOMBSTONES_METRIC} (registered in {@link #open}).
 */
abstract class SkippingDeserializationSchema<T> implements KafkaRecordDeserializationSchema<T> {

    /** Metric: records that did not parse. */
    public static final String SKIPPED_METRIC = "crmnSkippedRecords";
    /** Metric: records without a value. */
    public static final String TOMBSTONES_METRIC = "crmnTombstones";

    private static final Logger LOG = LoggerFactory.getLogger(SkippingDeserializationSchema.class);

    /** Parses a record. */
    interface Parser<T> extends Serializable {
        T parse(ConsumerRecord<byte[], byte[]> record) throws IOException;
    }

    private final Parser<T> parser;
    private final Class<T> type;
    private final boolean valueRequired;
    private transient Counter skipped;
    private transient Counter tombstones;

    /** @param valueRequired records without a value are tombstones, skipped without parsing */
    SkippingDeserializationSchema(Parser<T> parser, Class<T> type, boolean valueRequired) {
        this.parser = parser;
        this.type = type;
        this.valueRequired = valueRequired;
    }

    @Override
    public void open(DeserializationSchema.InitializationContext context) throws Exception {
        skipped = context.getMetricGroup().counter(SKIPPED_METRIC);
        tombstones = context.getMetricGroup().counter(TOMBSTONES_METRIC);
    }

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<T> out) {
        if (valueRequired && r.value() == null) {
            tombstones().inc();
            return;
        }
        T value;
        try {
            value = parser.parse(r);
        } catch (IOException | RuntimeException e) {
            skipped().inc();
            LOG.warn("skipping unreadable {} at {}-{}-{}: {}", type.getSimpleName(), r.topic(), r.partition(), r.offset(),
                    e.getMessage());
            return;
        }
        out.collect(value); // outside the try: a failure downstream is not a bad record
    }

    /** Records skipped as unreadable so far (in this instance). */
    public long skippedCount() {
        return skipped().getCount();
    }

    /** Tombstones skipped so far (in this instance). */
    public long tombstoneCount() {
        return tombstones().getCount();
    }

    private Counter skipped() {
        if (skipped == null) {
            skipped = new SimpleCounter(); // used outside a Flink source (tools, tests)
        }
        return skipped;
    }

    private Counter tombstones() {
        if (tombstones == null) {
            tombstones = new SimpleCounter();
        }
        return tombstones;
    }

    @Override
    public TypeInformation<T> getProducedType() {
        return TypeInformation.of(type);
    }
}
