package dev.crmn.jobs.quality;

import dev.crmn.jobs.common.state.VersionedSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * A {@link Waiting} in state. Format 1: a byte of flags (1 serving, 2 shadow, 4 label), each part present, then the
 * expiry time.
 */
public final class WaitingSerializer extends VersionedSerializer<Waiting> {

    private static final long serialVersionUID = 1L;

    public static final WaitingSerializer INSTANCE = new WaitingSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(Waiting w, DataOutputView out) throws IOException {
        out.writeByte((w.serving() != null ? 1 : 0) | (w.shadow() != null ? 2 : 0) | (w.label() != null ? 4 : 0));
        for (Waiting.Part p : new Waiting.Part[]{w.serving(), w.shadow()}) {
            if (p != null) {
                out.writeUTF(p.model());
                out.writeLong(p.version());
                out.writeUTF(p.sha256() == null ? "" : p.sha256());
                out.writeInt(p.predicted());
            }
        }
        if (w.label() != null) {
            out.writeUTF(w.label());
            out.writeUTF(w.labelTopic() == null ? "" : w.labelTopic());
            out.writeInt(w.labelPartition());
            out.writeLong(w.labelOffset());
        }
        out.writeLong(w.expires());
    }

    @Override
    protected Waiting read(int format, DataInputView in) throws IOException {
        int flags = in.readUnsignedByte();
        Waiting.Part serving = (flags & 1) != 0 ? part(in) : null;
        Waiting.Part shadow = (flags & 2) != 0 ? part(in) : null;
        String label = null;
        String topic = null;
        int partition = -1;
        long offset = -1;
        if ((flags & 4) != 0) {
            label = in.readUTF();
            topic = in.readUTF();
            partition = in.readInt();
            offset = in.readLong();
        }
        return new Waiting(serving, shadow, label, topic == null || topic.isEmpty() ? null : topic, partition, offset,
                in.readLong());
    }

    private static Waiting.Part part(DataInputView in) throws IOException {
        String model = in.readUTF();
        long version = in.readLong();
        String sha = in.readUTF();
        return new Waiting.Part(model, version, sha.isEmpty() ? null : sha, in.readInt());
    }

    @Override
    protected String what() {
        return "a prediction or label waiting for the other";
    }

    @Override
    public TypeSerializerSnapshot<Waiting> snapshotConfiguration() {
        return new WaitingSnapshot();
    }

    /** Flink finds the serializer of restored state through this class: keep its name. */
    public static final class WaitingSnapshot extends VersionedSerializer.Snapshot<Waiting> {
        public WaitingSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
