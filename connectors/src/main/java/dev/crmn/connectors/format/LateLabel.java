package dev.crmn.connectors.format;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * A label that arrives after its frame (a human reviewer, a downstream system), on the {@code labels} topic: key
 * the frame id, value {@code {"frame_id": "...", "label": "cat"}} (a class name, case-insensitive, or a class
 * index, as a number or a string). docs/wire-format.md, "Labels".
 *
 * @param frameId the frame the label belongs to
 * @param label   the label as sent (resolved against a model's classes by {@link #classIndex})
 */
public record LateLabel(String frameId, String label) {

    public static final int SCHEMA = 1;

    /**
     * Parses a record of the labels topic: the value's {@code frame_id}, else the record's key.
     *
     * @throws IOException in one line saying what is wrong (not JSON, no frame id, no label, two different ids)
     */
    public static LateLabel parse(byte[] key, byte[] value) throws IOException {
        if (value == null) {
            throw new IOException("a label record needs a JSON value {\"frame_id\": ..., \"label\": ...}");
        }
        JsonNode node;
        try {
            node = PredictionJson.JSON.readTree(value);
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException("a label record's value is not JSON: " + e.getOriginalMessage());
        }
        if (node == null || !node.isObject()) {
            throw new IOException("a label record's value is a JSON object {\"frame_id\": ..., \"label\": ...}");
        }
        String keyId = key == null || key.length == 0 ? null : new String(key, StandardCharsets.UTF_8);
        JsonNode id = node.get("frame_id");
        String frameId = id == null || id.isNull() ? keyId : id.isTextual() ? id.asText() : null;
        if (frameId == null || frameId.isBlank()) {
            throw new IOException("a label record needs a frame id (\"frame_id\", or the record key)");
        }
        if (keyId != null && !keyId.equals(frameId)) {
            throw new IOException("a label record's key (" + keyId + ") and frame_id (" + frameId + ") differ");
        }
        JsonNode l = node.get("label");
        if (l == null || l.isNull() || !(l.isTextual() || l.isIntegralNumber()) || l.asText().isBlank()) {
            throw new IOException("a label record needs \"label\": a class name or index");
        }
        return new LateLabel(frameId, l.asText().strip());
    }

    /**
     * The class index this label names among {@code classes} (an index, or a name, case-insensitive).
     *
     * @throws IOException if it names none of them
     */
    public int classIndex(List<String> classes) throws IOException {
        try {
            return FrameDecoder.parseLabel(label, classes, true);
        } catch (FrameRejectedException e) {
            throw new IOException("label of " + frameId + ": " + e.getMessage());
        }
    }

    /** This label as the topic's value (UTF-8 JSON). */
    public byte[] toBytes() {
        return PredictionJson.JSON.createObjectNode().put("frame_id", frameId).put("label", label).toString()
                .getBytes(StandardCharsets.UTF_8);
    }
}
