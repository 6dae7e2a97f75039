package dev.crmn.connectors.format;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;

/** (De)serialises {@link Prediction}s as UTF-8 JSON, by schema version. */
public final class PredictionJson {

    public static final int VERSION_1 = 1;
    public static final int CURRENT_SCHEMA = VERSION_1;

    static final ObjectMapper JSON = new ObjectMapper().disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private PredictionJson() {
    }

    public static byte[] toBytes(Prediction p) {
        try {
            return JSON.writeValueAsBytes(p);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /**
     * @throws IOException if the bytes are not a prediction of a known schema version
     */
    public static Prediction fromBytes(byte[] bytes) throws IOException {
        JsonNode node = JSON.readTree(bytes);
        if (node == null || !node.isObject()) {
            throw new IOException("a prediction is a JSON object");
        }
        int schema = node.path("schema").asInt(-1);
        switch (schema) {
            case VERSION_1:
                return JSON.treeToValue(node, Prediction.class);
            default:
                throw new IOException("unsupported prediction schema " + schema + " (this build reads 1.." + CURRENT_SCHEMA + ")");
        }
    }
}
