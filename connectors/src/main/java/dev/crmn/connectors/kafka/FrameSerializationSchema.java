package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameRecords;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.kafka.clients.producer.ProducerRecord;

/** Writes {@link Frame}s unchanged (key, value, headers) to a topic: replaying or re-routing frames. */
public final class FrameSerializationSchema implements KafkaRecordSerializationSchema<Frame> {

    private final String topic;

    public FrameSerializationSchema(String topic) {
        this.topic = topic;
    }

    @Override
    public ProducerRecord<byte[], byte[]> serialize(Frame f, KafkaSinkContext context, Long timestamp) {
        return FrameRecords.record(topic, f);
    }
}
