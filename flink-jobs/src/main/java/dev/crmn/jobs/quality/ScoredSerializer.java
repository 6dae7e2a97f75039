package dev.crmn.jobs.quality;

import dev.crmn.jobs.common.state.VersionedSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** A {@link Scored} outcome in state (waiting for its pair). Format 1: its fields, nulls as flags. */
public final class ScoredSerializer extends VersionedSerializer<Scored> {

    private static final long serialVersionUID = 1L;

    public static final ScoredSerializer INSTANCE = new ScoredSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(Scored s, DataOutputView out) throws IOException {
        out.writeByte(s.kind().ordinal());
        out.writeUTF(s.model());
        out.writeLong(s.version());
        out.writeUTF(s.sha256() == null ? "" : s.sha256());
        out.writeBoolean(s.counted());
        out.writeByte(s.correct() == null ? 2 : s.correct() ? 1 : 0);
        out.writeLong(s.at());
        out.writeUTF(s.frameId() == null ? "" : s.frameId());
        out.writeLong(s.servingVersion() == null ? -1 : s.servingVersion());
        out.writeByte(s.servingCorrect() == null ? 2 : s.servingCorrect() ? 1 : 0);
    }

    @Override
    protected Scored read(int format, DataInputView in) throws IOException {
        int kind = in.readUnsignedByte();
        if (kind >= Scored.Kind.values().length) {
            throw new IOException("a scored prediction in state has kind " + kind + " (damaged state?)");
        }
        String model = in.readUTF();
        long version = in.readLong();
        String sha = in.readUTF();
        boolean counted = in.readBoolean();
        Boolean correct = bool(in.readUnsignedByte());
        long at = in.readLong();
        String frameId = in.readUTF();
        long servingVersion = in.readLong();
        Boolean servingCorrect = bool(in.readUnsignedByte());
        return new Scored(Scored.Kind.values()[kind], model, version, sha.isEmpty() ? null : sha, counted, correct, at,
                frameId.isEmpty() ? null : frameId, servingVersion < 0 ? null : servingVersion, servingCorrect);
    }

    private static Boolean bool(int b) {
        return b == 2 ? null : b == 1;
    }

    @Override
    protected String what() {
        return "a scored prediction waiting for its pair";
    }

    @Override
    public TypeSerializerSnapshot<Scored> snapshotConfiguration() {
        return new ScoredSnapshot();
    }

    /** Flink finds the serializer of restored state through this class: keep its name. */
    public static final class ScoredSnapshot extends VersionedSerializer.Snapshot<Scored> {
        public ScoredSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
