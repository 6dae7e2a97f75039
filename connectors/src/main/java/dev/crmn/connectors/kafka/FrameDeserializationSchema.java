package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.Frame;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema;
import org.apache.flink.util.Collector;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * Keeps every consumed record as a {@link Frame}, untouched: decoding happens downstream, where a failure
 * can become a dead letter. Never throws, so no input can stop the source.
 */
public final class FrameDeserializationSchema implements KafkaRecordDeserializationSchema<Frame> {

    @Override
    public void deserialize(ConsumerRecord<byte[], byte[]> r, Collector<Frame> out) {
        out.collect(toFrame(r));
    }

    /** The frame of a consumer record. */
    public static Frame toFrame(ConsumerRecord<byte[], byte[]> r) {
        List<String> keys = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        for (Header h : r.headers()) {
            keys.add(h.key());
            values.add(h.value());
        }
        return new Frame(r.topic(), r.partition(), r.offset(), r.timestamp(), r.key(), r.value(),
                keys.toArray(new String[0]), values.toArray(new byte[0][]));
    }

    @Override
    public TypeInformation<Frame> getProducedType() {
        return TypeInformation.of(Frame.class);
    }
}
