package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.DeadLetter;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes a {@link DeadLetter}: the original key, value and headers plus the reason headers. */
public final class DeadLetterSerializationSchema implements KafkaRecordSerializationSchema<DeadLetter>,
        org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider {

    private final String topic;

    public DeadLetterSerializationSchema(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(DeadLetter d, KafkaSinkContext context, Long timestamp) {
        return d.toRecord(topic);
    }

    /** The topic written, for the sink's transaction naming (pooled transactional ids) and lineage. */
    @Override
    public java.util.Optional<org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet> getKafkaDatasetFacet() {
        return CrmnKafka.facet(topic);
    }
}
