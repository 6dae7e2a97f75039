package dev.crmn.jobs.finetune;

import dev.crmn.jobs.common.state.VersionedSerializer;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/** An {@link Example} in state. Format 1: pixels (length first), label, partition, offset. */
public final class ExampleSerializer extends VersionedSerializer<Example> {

    private static final long serialVersionUID = 1L;

    public static final ExampleSerializer INSTANCE = new ExampleSerializer();

    @Override
    protected int format() {
        return 1;
    }

    @Override
    protected void write(Example e, DataOutputView out) throws IOException {
        writeBytes(e.pixels(), out);
        out.writeInt(e.label());
        out.writeInt(e.partition());
        out.writeLong(e.offset());
    }

    @Override
    protected Example read(int format, DataInputView in) throws IOException {
        return new Example(readBytes(in), in.readInt(), in.readInt(), in.readLong());
    }

    @Override
    protected String what() {
        return "a labelled example";
    }

    @Override
    public TypeSerializerSnapshot<Example> snapshotConfiguration() {
        return new ExampleSnapshot();
    }

    /** Flink finds the serializer of restored state through this class: keep its name. */
    public static final class ExampleSnapshot extends VersionedSerializer.Snapshot<Example> {
        public ExampleSnapshot() {
            super(() -> INSTANCE);
        }
    }
}
