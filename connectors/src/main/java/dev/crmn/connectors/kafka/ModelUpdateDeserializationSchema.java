package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.ModelRefJson;
import dev.crmn.connectors.format.ModelUpdate;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.common.header.Header;

/**
 * Reads {@link ModelUpdate}s from the model-updates topic: the {@code ModelRef} value and the action headers.
 * Invalid records, tombstones and actions this build does not know are skipped and counted (an unknown action is
 * never read as "serve").
 */
public final class ModelUpdateDeserializationSchema extends SkippingDeserializationSchema<ModelUpdate> {

    public ModelUpdateDeserializationSchema() {
        super(ModelUpdateDeserializationSchema::parse, ModelUpdate.class, true);
    }

    public static ModelUpdate parse(ConsumerRecord<byte[], byte[]> r) throws IOException {
        ModelUpdate.Action action = ModelUpdate.Action.parse(header(r, ModelUpdate.ACTION_HEADER));
        var ref = action.shadowRecord() ? ModelRefJson.fromShadowRecordBytes(r.value()) : ModelRefJson.fromBytes(r.value());
        String reason = header(r, ModelUpdate.REASON_HEADER);
        if (action != ModelUpdate.Action.ROLLBACK) {
            return new ModelUpdate(ref, action, null, reason);
        }
        String replaces = header(r, ModelUpdate.REPLACES_HEADER);
        try {
            return ModelUpdate.rollback(ref, Long.parseLong(replaces == null ? "" : replaces.strip()), reason);
        } catch (NumberFormatException e) {
            throw new IOException("a rollback record needs the " + ModelUpdate.REPLACES_HEADER + " header (the version"
                    + " rolled back), got " + replaces);
        } catch (IllegalArgumentException e) {
            throw new IOException(e.getMessage());
        }
    }

    private static String header(ConsumerRecord<byte[], byte[]> r, String name) {
        Header h = r.headers().lastHeader(name);
        return h == null || h.value() == null ? null : new String(h.value(), StandardCharsets.UTF_8);
    }
}
