package dev.crmn.connectors.kafka;

import java.util.Optional;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet;
import org.apache.flink.connector.kafka.lineage.KafkaDatasetFacetProvider;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/**
 * A record serializer that passes a {@link SinkGate} when it is opened. The Kafka sink's writer opens its
 * serializer in its constructor, before it creates (or aborts the transactions of) any producer, so the gate
 * holds the writer back from touching the transactional ids until it opens.
 */
final class GatedSerializationSchema<T> implements KafkaRecordSerializationSchema<T>, KafkaDatasetFacetProvider {

    private final KafkaRecordSerializationSchema<T> schema;
    private final KafkaDatasetFacetProvider facet;
    private final SinkGate gate;

    /** {@code schema} names its topic ({@link KafkaDatasetFacetProvider}): the pooled transaction naming needs it. */
    <S extends KafkaRecordSerializationSchema<T> & KafkaDatasetFacetProvider> GatedSerializationSchema(S schema,
                                                                                                        SinkGate gate) {
        this.schema = schema;
        this.facet = schema;
        this.gate = gate;
    }

    @Override
    public void open(SerializationSchema.InitializationContext context, KafkaSinkContext sinkContext) throws Exception {
        gate.await(sinkContext.getParallelInstanceId());
        schema.open(context, sinkContext);
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(T element, KafkaSinkContext context, Long timestamp) {
        return schema.serialize(element, context, timestamp);
    }

    @Override
    public Optional<KafkaDatasetFacet> getKafkaDatasetFacet() {
        return facet.getKafkaDatasetFacet();
    }
}
