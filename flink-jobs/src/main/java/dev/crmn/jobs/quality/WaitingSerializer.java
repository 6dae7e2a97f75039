package dev.crmn.jobs.quality;

import dev.crmn.jobs.common.state.VersionedSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** A {@link Waiting} in state. Format 1: a kind byte (1 prediction, 2 label), then that kind's fields. */
public final class WaitingSerializer extends VersionedSerializer<Waiting> {

    private static final long serialVersionUID = 1L;

    public static final WaitingSerializer INSTANCE = new WaitingSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(Waiting w, DataOutputView out) throws IOException {
        if (w.isPrediction()) {
            out.writeByte(1);
            out.writeUTF(w.model());
            out.writeLong(w.version());
            out.writeUTF(w.sha256() == null ? "" : w.sha256());
            out.writeInt(w.predicted());
        } else {
            out.writeByte(2);
            out.writeUTF(w.label());
            out.writeUTF(w.labelTopic() == null ? "" : w.labelTopic());
            out.writeInt(w.labelPartition());
            out.writeLong(w.labelOffset());
        }
        out.writeLong(w.since());
    }

    @Override
    protected Waiting read(int format, DataInputView in) throws IOException {
        int kind = in.readUnsignedByte();
        if (kind == 1) {
            String model = in.readUTF();
            long version = in.readLong();
            String sha = in.readUTF();
            int predicted = in.readInt();
            return Waiting.prediction(model, version, sha.isEmpty() ? null : sha, predicted, in.readLong());
        }
        if (kind == 2) {
            String label = in.readUTF();
            String topic = in.readUTF();
            int partition = in.readInt();
            long offset = in.readLong();
            return Waiting.label(label, topic.isEmpty() ? null : topic, partition, offset, in.readLong());
        }
        throw new IOException("a waiting prediction or label in state has kind " + kind + " (damaged state?)");
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
