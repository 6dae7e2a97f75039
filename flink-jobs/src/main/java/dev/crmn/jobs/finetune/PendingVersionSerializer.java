package dev.crmn.jobs.finetune;

import dev.crmn.jobs.common.state.VersionedSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** A {@link PendingVersion} in state. Format 1: version, manifest JSON and model zip (each length first). */
public final class PendingVersionSerializer extends VersionedSerializer<PendingVersion> {

    private static final long serialVersionUID = 1L;

    public static final PendingVersionSerializer INSTANCE = new PendingVersionSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(PendingVersion p, DataOutputView out) throws IOException {
        out.writeLong(p.version());
        writeBytes(p.manifestJson(), out);
        writeBytes(p.zip(), out);
    }

    @Override
    protected PendingVersion read(int format, DataInputView in) throws IOException {
        return new PendingVersion(in.readLong(), readBytes(in), readBytes(in));
    }

    @Override
    protected String what() {
        return "a promoted version waiting to be published";
    }

    @Override
    public TypeSerializerSnapshot<PendingVersion> snapshotConfiguration() {
        return new PendingVersionSnapshot();
    }

    /** Flink finds the serializer of restored state through this class: keep its name. */
    public static final class PendingVersionSnapshot extends VersionedSerializer.Snapshot<PendingVersion> {
        public PendingVersionSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
