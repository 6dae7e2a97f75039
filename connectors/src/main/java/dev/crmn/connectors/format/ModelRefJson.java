package dev.crmn.connectors.format;

import com.fasterxml.jackson.databind.JsonNode;
import java.io.IOException;
import java.io.UncheckedIOException;

/** (De)serialises {@link ModelRef}s as UTF-8 JSON, by schema version. */
public final class ModelRefJson {

    public static final int VERSION_1 = 1;
    public static final int CURRENT_SCHEMA = VERSION_1;

    private ModelRefJson() {
    }

    public static byte[] toBytes(ModelRef r) {
        try {
            return PredictionJson.JSON.writeValueAsBytes(r);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
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
