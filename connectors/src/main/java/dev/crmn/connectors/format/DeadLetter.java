package dev.crmn.connectors.format;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeaders;

/**
 * A rejected frame: the original record (key, value, headers, unchanged) plus why. On the dead-letter
 * topic it is the original key and value with the original headers followed by {@code error-reason},
 * {@code error-detail}, {@code source-topic}, {@code source-partition}, {@code source-offset},
 * {@code source-timestamp} and {@code dead-letter-schema}. Nothing a producer sent is lost.
 */
public record DeadLetter(Frame original, DeadLetterReason reason, String detail) {

    public static final int VERSION_1 = 1;
    public static final int CURRENT_SCHEMA = VERSION_1;

    private static final Set<String> ADDED = Set.of(Headers.ERROR_REASON, Headers.ERROR_DETAIL, Headers.SOURCE_TOPIC,
            Headers.SOURCE_PARTITION, Headers.SOURCE_OFFSET, Headers.SOURCE_TIMESTAMP, Headers.DEAD_LETTER_SCHEMA);

    public static DeadLetter of(Frame original, FrameRejectedException e) {
        return new DeadLetter(original, e.reason(), e.detail());
    }

    /** The dead-letter record for {@code topic}. */
    public ProducerRecord<byte[], byte[]> toRecord(String topic) {
        RecordHeaders h = new RecordHeaders();
        for (int i = 0; i < original.headerKeys().length; i++) {
            h.add(original.headerKeys()[i], original.headerValues()[i]);
        }
        h.add(Headers.ERROR_REASON, utf8(reason.wireName()));
        h.add(Headers.ERROR_DETAIL, utf8(detail == null ? "" : detail));
        h.add(Headers.SOURCE_TOPIC, utf8(original.topic()));
        h.add(Headers.SOURCE_PARTITION, utf8(Integer.toString(original.partition())));
        h.add(Headers.SOURCE_OFFSET, utf8(Long.toString(original.offset())));
        h.add(Headers.SOURCE_TIMESTAMP, utf8(Long.toString(original.timestamp())));
        h.add(Headers.DEAD_LETTER_SCHEMA, utf8(Integer.toString(CURRENT_SCHEMA)));
        return new ProducerRecord<>(topic, null, null, original.key(), original.value(), h);
    }

    /**
     * Reads a dead-letter record back: the original frame (coordinates from the source headers) and the reason.
     *
     * @throws IllegalArgumentException if the record lacks the dead-letter headers or has an unknown schema
     */
    public static DeadLetter fromRecord(ConsumerRecord<byte[], byte[]> r) {
        String schema = header(r, Headers.DEAD_LETTER_SCHEMA);
        if (schema == null || !schema.equals(Integer.toString(VERSION_1))) {
            throw new IllegalArgumentException("not a dead letter of a known schema (dead-letter-schema=" + schema + ")");
        }
        List<String> keys = new ArrayList<>();
        List<byte[]> values = new ArrayList<>();
        for (Header h : r.headers()) {
            if (!ADDED.contains(h.key())) {
                keys.add(h.key());
                values.add(h.value());
            }
        }
        Frame original = new Frame(header(r, Headers.SOURCE_TOPIC), Integer.parseInt(header(r, Headers.SOURCE_PARTITION)),
                Long.parseLong(header(r, Headers.SOURCE_OFFSET)), Long.parseLong(header(r, Headers.SOURCE_TIMESTAMP)),
                r.key(), r.value(), keys.toArray(new String[0]), values.toArray(new byte[0][]));
        return new DeadLetter(original, DeadLetterReason.fromWireName(header(r, Headers.ERROR_REASON)),
                header(r, Headers.ERROR_DETAIL));
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }

    private static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }
}
