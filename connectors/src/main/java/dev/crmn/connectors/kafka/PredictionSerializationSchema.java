package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.Headers;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import java.nio.charset.StandardCharsets;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/** Writes a {@link Prediction} as JSON, keyed like its frame, with {@code frame-id} and {@code content-type} headers. */
public final class PredictionSerializationSchema implements KafkaRecordSerializationSchema<Prediction>,
        org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider {

    private final String topic;

    public PredictionSerializationSchema(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Prediction p, KafkaSinkContext context, Long timestamp) {
        RecordHeaders h = new RecordHeaders();
        h.add(Headers.FRAME_ID, p.frameId().getBytes(StandardCharsets.UTF_8));
        h.add(Headers.CONTENT_TYPE, "application/json".getBytes(StandardCharsets.UTF_8));
        byte[] key = p.key() == null ? null : p.key().getBytes(StandardCharsets.UTF_8);
        return new ProducerRecord<>(topic, null, null, key, PredictionJson.toBytes(p), h);
    }

    /** The topic written, for the sink's transaction naming (pooled transactional ids) and lineage. */
    @Override
    public java.util.Optional<org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet> getKafkaDatasetFacet() {
        return CrmnKafka.facet(topic);
    }
}
