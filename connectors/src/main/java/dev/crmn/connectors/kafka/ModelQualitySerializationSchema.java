package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelQuality;
import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes {@link ModelQuality} as JSON keyed by {@code name/vN} (the model-quality topic is compacted by version). */
public final class ModelQualitySerializationSchema implements KafkaRecordSerializationSchema<ModelQuality>,
        org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider {

    private final String topic;

    public ModelQualitySerializationSchema(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(ModelQuality q, KafkaSinkContext context, Long timestamp) {
        return new ProducerRecord<>(topic, q.key().getBytes(StandardCharsets.UTF_8), q.toBytes());
    }

    @Override
    public java.util.Optional<org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet> getKafkaDatasetFacet() {
        return CrmnKafka.facet(topic);
    }
}
