package dev.crmn.connectors.format;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/** (De)serialises {@link ModelRef}s as UTF-8 JSON, by schema version. */
public final class ModelRefJson {

    public static final int VERSION_1 = 1;
    public static final int CURRENT_SCHEMA = VERSION_1;
    /**
     * The schema of a shadow record's value on model-updates (shadow, reject): the fields of schema 1; the number
     * only keeps consumers that do not know actions (they read schema 1) from reading it as "serve".
     */
    public static final int SHADOW_RECORD = 2;

    private ModelRefJson() {
    }

    public static byte[] toBytes(ModelRef r) {
        try {
            return PredictionJson.JSON.writeValueAsBytes(r);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** {@code r} as the value of a shadow record (schema {@link #SHADOW_RECORD}). */
    public static byte[] toShadowRecordBytes(ModelRef r) {
        return toBytes(new ModelRef(SHADOW_RECORD, r.name(), r.version(), r.uri(), r.sha256(), r.metrics(),
                r.parentVersion(), r.parentSha256(), r.publishedAt()));
    }

    /** A shadow record's value (schema {@link #SHADOW_RECORD}) as the model reference it names (schema 1). */
    public static ModelRef fromShadowRecordBytes(byte[] bytes) throws IOException {
        JsonNode node = PredictionJson.JSON.readTree(bytes);
        if (node == null || !node.isObject() || node.path("schema").asInt(-1) != SHADOW_RECORD) {
            throw new IOException("a shadow record's value is a model reference of schema " + SHADOW_RECORD);
        }
        ((com.fasterxml.jackson.databind.node.ObjectNode) node).put("schema", VERSION_1);
        return fromBytes(PredictionJson.JSON.writeValueAsBytes(node));
    }

    /**
     * @throws IOException if the bytes are not a model reference of a known schema version
     */
    public static ModelRef fromBytes(byte[] bytes) throws IOException {
        JsonNode node = PredictionJson.JSON.readTree(bytes);
        if (node == null || !node.isObject()) {
            throw new IOException("a model reference is a JSON object");
        }
        int schema = node.path("schema").asInt(-1);
        switch (schema) {
            case VERSION_1:
                ModelRef r = PredictionJson.JSON.treeToValue(node, ModelRef.class);
                if (r.name() == null || r.uri() == null || r.sha256() == null) {
                    throw new IOException("a model reference needs name, uri and sha256");
                }
                return r;
            default:
                throw new IOException("unsupported model reference schema " + schema + " (this build reads 1.."
                        + CURRENT_SCHEMA + ")");
        }
    }
}
