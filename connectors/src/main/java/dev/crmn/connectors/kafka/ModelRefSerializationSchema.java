package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes a {@link ModelRef} as JSON keyed by model name (the model-updates topic is compacted by name). */
public final class ModelRefSerializationSchema implements KafkaRecordSerializationSchema<ModelRef>,
        org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider {

    private final String topic;

    public ModelRefSerializationSchema(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(ModelRef r, KafkaSinkContext context, Long timestamp) {
        return record(topic, r);
    }

    /** The model-updates record of {@code r} (serve it). */
    public static ProducerRecord<byte[], byte[]> record(String topic, ModelRef r) {
        return new ProducerRecord<>(topic, r.name().getBytes(StandardCharsets.UTF_8), ModelRefJson.toBytes(r));
    }

    /**
     * The model-updates record of an update: {@link #record}, with the action's headers unless it is a plain serve
     * (whose bytes stay what every earlier build wrote).
     */
    public static ProducerRecord<byte[], byte[]> record(String topic, dev.crmn.connectors.format.ModelUpdate u) {
        ProducerRecord<byte[], byte[]> r = u.action().shadowRecord()
                ? new ProducerRecord<>(topic, (u.ref().name() + dev.crmn.connectors.format.ModelUpdate.SHADOW_KEY_SUFFIX)
                        .getBytes(StandardCharsets.UTF_8), dev.crmn.connectors.format.ModelRefJson.toShadowRecordBytes(u.ref()))
                : record(topic, u.ref());
        if (u.action() != dev.crmn.connectors.format.ModelUpdate.Action.SERVE) {
            r.headers().add(dev.crmn.connectors.format.ModelUpdate.ACTION_HEADER,
                    u.action().wireName().getBytes(StandardCharsets.UTF_8));
        }
        if (u.replaces() != null) {
            r.headers().add(dev.crmn.connectors.format.ModelUpdate.REPLACES_HEADER,
                    Long.toString(u.replaces()).getBytes(StandardCharsets.UTF_8));
        }
        if (u.reason() != null) {
            r.headers().add(dev.crmn.connectors.format.ModelUpdate.REASON_HEADER, u.reason().getBytes(StandardCharsets.UTF_8));
        }
        return r;
    }

    /** The topic written, for the sink's transaction naming (pooled transactional ids) and lineage. */
    @Override
    public java.util.Optional<org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet> getKafkaDatasetFacet() {
        return CrmnKafka.facet(topic);
    }
}
