package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelUpdate;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes a {@link ModelUpdate} (serve, rollback) to model-updates ({@link ModelRefSerializationSchema#record}). */
public final class ModelUpdateSerializationSchema implements KafkaRecordSerializationSchema<ModelUpdate>,
        org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider {

    private final String topic;

    public ModelUpdateSerializationSchema(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(ModelUpdate u, KafkaSinkContext context, Long timestamp) {
        return ModelRefSerializationSchema.record(topic, u);
    }

    @Override
    public java.util.Optional<org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet> getKafkaDatasetFacet() {
        return CrmnKafka.facet(topic);
    }
}
