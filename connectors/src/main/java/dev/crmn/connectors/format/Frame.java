package dev.crmn.connectors.format;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * A record of the frames topic exactly as consumed: coordinates, timestamp, key, value and all headers
 * (in order, duplicates kept), so that a rejected frame can be dead-lettered without loss. Arrays rather
 * than collections keep it a Flink POJO without Kryo.
 *
 * @param key         the record key (null when absent)
 * @param value       the image bytes (null for a tombstone)
 * @param headerKeys  header names, parallel to {@code headerValues}
 */
public record Frame(String topic, int partition, long offset, long timestamp, byte[] key, byte[] value,
                    String[] headerKeys, byte[][] headerValues) {

    public Frame {
        headerKeys = headerKeys == null ? new String[0] : headerKeys;
        headerValues = headerValues == null ? new byte[0][] : headerValues;
        if (headerKeys.length != headerValues.length) {
            throw new IllegalArgumentException("header keys and values differ in number");
        }
    }

    /** The last value of header {@code name} as UTF-8 text, or null. */
    public String header(String name) {
        for (int i = headerKeys.length - 1; i >= 0; i--) {
            if (headerKeys[i].equals(name)) {
                return headerValues[i] == null ? null : new String(headerValues[i], StandardCharsets.UTF_8);
            }
        }
        return null;
    }

    /** The key as UTF-8 text, or null. */
    public String keyString() {
        return key == null ? null : new String(key, StandardCharsets.UTF_8);
    }

    /** {@code <topic>-<partition>-<offset>}: the frame id when the producer sent none. */
    public String coordinates() {
        return topic + "-" + partition + "-" + offset;
    }

    /** The {@code frame-id} header, or the coordinates. */
    public String frameId() {
        String id = header(Headers.FRAME_ID);
        return id == null || id.isBlank() ? coordinates() : id;
    }

    /** A builder-free way for tests and tools: a frame with the given headers (name, value, name, value, ...). */
    public static Frame of(String topic, int partition, long offset, byte[] key, byte[] value, String... headers) {
        List<String> k = new ArrayList<>();
        List<byte[]> v = new ArrayList<>();
        for (int i = 0; i + 1 < headers.length; i += 2) {
            k.add(headers[i]);
            v.add(headers[i + 1].getBytes(StandardCharsets.UTF_8));
        }
        return new Frame(topic, partition, offset, System.currentTimeMillis(), key, value, k.toArray(new String[0]),
                v.toArray(new byte[0][]));
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Frame f && topic.equals(f.topic) && partition == f.partition && offset == f.offset
                && timestamp == f.timestamp && Arrays.equals(key, f.key) && Arrays.equals(value, f.value)
                && Arrays.equals(headerKeys, f.headerKeys) && Arrays.deepEquals(headerValues, f.headerValues);
    }

    @Override
    public int hashCode() {
        return topic.hashCode() * 31 * 31 + partition * 31 + Long.hashCode(offset);
    }

    @Override
    public String toString() {
        return "Frame{" + coordinates() + ", " + (value == null ? 0 : value.length) + " bytes, headers="
                + Arrays.toString(headerKeys) + "}";
    }
}
