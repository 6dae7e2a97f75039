package dev.crmn.jobs.finetune;

import dev.crmn.jobs.common.state.VersionedSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** A {@link Holdout.Held} in state. Format 1: the example (as {@link ExampleSerializer} writes it), then its uses. */
public final class HeldSerializer extends VersionedSerializer<Holdout.Held> {

    private static final long serialVersionUID = 1L;

    public static final HeldSerializer INSTANCE = new HeldSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(Holdout.Held h, DataOutputView out) throws IOException {
        ExampleSerializer.INSTANCE.serialize(h.example(), out);
        out.writeInt(h.uses());
    }

    @Override
    protected Holdout.Held read(int format, DataInputView in) throws IOException {
        return new Holdout.Held(ExampleSerializer.INSTANCE.deserialize(in), in.readInt());
    }

    @Override
    protected String what() {
        return "a holdout image";
    }

    @Override
    public TypeSerializerSnapshot<Holdout.Held> snapshotConfiguration() {
        return new HeldSnapshot();
    }

    /** Flink finds the serializer of restored state through this class: keep its name. */
    public static final class HeldSnapshot extends VersionedSerializer.Snapshot<Holdout.Held> {
        public HeldSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
