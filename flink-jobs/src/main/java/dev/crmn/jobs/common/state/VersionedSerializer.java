package dev.crmn.jobs.common.state;

import java.io.IOException;
import java.util.function.Supplier;
import org.apache.flink.api.common.typeutils.SimpleTypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.TypeSerializer;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.api.common.typeutils.TypeSerializerSnapshot;
import org.apache.flink.api.common.typeutils.base.TypeSerializerSingleton;
import org.apache.flink.core.memory.DataInputView;
import org.apache.flink.core.memory.DataOutputView;

/**
 * The serializer of one kind of job state (an immutable record), with an explicit, versioned format: every value
 * starts with its format's number, so a later release reads what an earlier one wrote (it keeps a reader for each
 * format it has ever written) and refuses, in one line, what a newer release wrote.
 *
 * <p>Rules for a change (docs/operations.md): a new field or encoding is a new format number with its own branch
 * in {@link #read}; a format once released is never changed or dropped; the state's name and this class's name
 * stay (Flink finds the serializer of a restored state by its snapshot class).
 *
 * @param <T> the record kept in state
 */
public abstract class VersionedSerializer<T> extends TypeSerializerSingleton<T> {

    private static final long serialVersionUID = 1L;

    /** The format this release writes. */
    protected abstract int format();

    /** Writes {@code value} in {@link #format()} (the format number is already written). */
    protected abstract void write(T value, DataOutputView out) throws IOException;

    /** Reads a value written in {@code format} (at most {@link #format()}). */
    protected abstract T read(int format, DataInputView in) throws IOException;

    /** What the state is, for messages ("a model reference"). */
    protected abstract String what();

    @Override
    public final void serialize(T value, DataOutputView out) throws IOException {
        out.writeByte(format());
        write(value, out);
    }

    @Override
    public final T deserialize(DataInputView in) throws IOException {
        int f = in.readUnsignedByte();
        if (f < 1 || f > format()) {
            throw new IOException(what() + " in state has format " + f + ", and this release reads formats 1 to "
                    + format() + ": the savepoint was written by a newer release of crmn-flink (or is damaged)");
        }
        return read(f, in);
    }

    @Override
    public final T deserialize(T reuse, DataInputView in) throws IOException {
        return deserialize(in);
    }

    @Override
    public final void copy(DataInputView source, DataOutputView target) throws IOException {
        serialize(deserialize(source), target);
    }

    @Override
    public final boolean isImmutableType() {
        return true; // records: no operator changes one it received
    }

    @Override
    public final T createInstance() {
        return null;
    }

    @Override
    public final T copy(T from) {
        return from;
    }

    @Override
    public final T copy(T from, T reuse) {
        return from;
    }

    @Override
    public final int getLength() {
        return -1;
    }

    /** Writes a byte array with its length. */
    protected static void writeBytes(byte[] b, DataOutputView out) throws IOException {
        out.writeInt(b.length);
        out.write(b);
    }

    /** Reads what {@link #writeBytes} wrote. */
    protected static byte[] readBytes(DataInputView in) throws IOException {
        int n = in.readInt();
        if (n < 0) {
            throw new IOException("negative length " + n + " in state");
        }
        byte[] b = new byte[n];
        in.readFully(b);
        return b;
    }

    /**
     * The snapshot of a {@link VersionedSerializer}: compatible as it is with its own kind; and compatible after
     * a migration with the generic serializer (Flink's POJO or Kryo serializer) that release 0.1 kept the same state
     * with, which Flink still reads that state with: operator state is on the heap once restored, and the next
     * checkpoint writes it in this format.
     */
    public abstract static class Snapshot<T> extends SimpleTypeSerializerSnapshot<T> {

        protected Snapshot(Supplier<? extends TypeSerializer<T>> serializer) {
            super(serializer);
        }

        @Override
        public TypeSerializerSchemaCompatibility<T> resolveSchemaCompatibility(TypeSerializerSnapshot<T> old) {
            if (old.getClass() == getClass()) {
                return TypeSerializerSchemaCompatibility.compatibleAsIs();
            }
            if (old instanceof Snapshot<?>) {
                return TypeSerializerSchemaCompatibility.incompatible(); // another kind of state under this name
            }
            return TypeSerializerSchemaCompatibility.compatibleAfterMigration();
        }
    }
}
