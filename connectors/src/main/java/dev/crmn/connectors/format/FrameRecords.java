package dev.crmn.connectors.format;

import dev.crmn.connectors.image.ContentType;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;

/** Builds frames-topic records the way docs/wire-format.md describes them. */
public final class FrameRecords {

    private FrameRecords() {
    }

    /**
     * A frame record.
     *
     * @param key       stream id, or null
     * @param frameId   frame id, or null (consumers then use the record's coordinates)
     * @param eventTime event time in ms, or a negative number for none
     * @param label     class index or name, or null
     */
    public static ProducerRecord<byte[], byte[]> record(String topic, String key, byte[] image, ContentType type,
                                                        String frameId, long eventTime, String label) {
        return record(topic, key, image, type.headerValue(), frameId, eventTime, label);
    }

    /** As above with the content-type header as text, or null for none (consumers then sniff PNG/JPEG bytes). */
    public static ProducerRecord<byte[], byte[]> record(String topic, String key, byte[] image, String contentType,
                                                        String frameId, long eventTime, String label) {
        RecordHeaders h = new RecordHeaders();
        if (contentType != null) {
            h.add(Headers.CONTENT_TYPE, utf8(contentType));
        }
        if (frameId != null) {
            h.add(Headers.FRAME_ID, utf8(frameId));
        }
        if (eventTime >= 0) {
            h.add(Headers.EVENT_TIME, utf8(Long.toString(eventTime)));
        }
        if (label != null) {
            h.add(Headers.LABEL, utf8(label));
        }
        return new ProducerRecord<>(topic, null, null, key == null ? null : utf8(key), image, h);
    }

    /** A consumed frame re-sent, unchanged, to {@code topic}. */
    public static ProducerRecord<byte[], byte[]> record(String topic, Frame f) {
        RecordHeaders h = new RecordHeaders();
        for (int i = 0; i < f.headerKeys().length; i++) {
            h.add(f.headerKeys()[i], f.headerValues()[i]);
        }
        return new ProducerRecord<>(topic, null, null, f.key(), f.value(), h);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
