package dev.crmn.jobs.common.state;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * A {@link ModelRef} in state. Format 1: the model-updates record's JSON (docs/wire-format.md), length first; that
 * JSON carries its own schema number and its reader ignores fields it does not know, so a ref with more fields
 * needs no new format here.
 */
public final class ModelRefSerializer extends VersionedSerializer<ModelRef> {

    private static final long serialVersionUID = 1L;

    public static final ModelRefSerializer INSTANCE = new ModelRefSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(ModelRef value, DataOutputView out) throws IOException {
        writeBytes(ModelRefJson.toBytes(value), out);
    }

    @Override
    protected ModelRef read(int format, DataInputView in) throws IOException {
        return ModelRefJson.fromBytes(readBytes(in));
    }

    @Override
    protected String what() {
        return "a model reference";
    }

    @Override
    public TypeSerializerSnapshot<ModelRef> snapshotConfiguration() {
        return new ModelRefSnapshot();
    }

    /** Flink finds the serializer of restored state through this class: keep its name. */
    public static final class ModelRefSnapshot extends VersionedSerializer.Snapshot<ModelRef> {
        public ModelRefSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
