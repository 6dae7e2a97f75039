package dev.crmn.jobs.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.jobs.common.state.ModelRefSerializer;
import dev.crmn.jobs.testutil.StateFixtures;
import java.io.IOException;
import org.apache.flink.api.common.typeutils.TypeSerializerSchemaCompatibility;
import org.apache.flink.core.memory.DataInputDeserializer;
import org.apache.flink.core.memory.DataOutputSerializer;
import org.junit.jupiter.api.Test;

class VersionedSerializerTest {

    @Test
    void aModelRefRoundTripsWithItsFormatNumberFirst() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(256);
        for (ModelRef r : new ModelRef[] {StateFixtures.served(), StateFixtures.loading()}) {
            out.clear();
            ModelRefSerializer.INSTANCE.serialize(r, out);
            assertThat(out.getSharedBuffer()[0]).as("format number").isEqualTo((byte) 1);
            assertThat(ModelRefSerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer()))).isEqualTo(r);
        }
        // copy between views (used when Flink rewrites state) keeps the value
        out.clear();
        ModelRefSerializer.INSTANCE.serialize(StateFixtures.served(), out);
        DataOutputSerializer copy = new DataOutputSerializer(256);
        ModelRefSerializer.INSTANCE.copy(new DataInputDeserializer(out.getCopyOfBuffer()), copy);
        assertThat(copy.getCopyOfBuffer()).isEqualTo(out.getCopyOfBuffer());
    }

    @Test
    void stateOfANewerFormatIsRefusedInOneLineNamingTheRelease() throws IOException {
        DataOutputSerializer out = new DataOutputSerializer(16);
        out.writeByte(2);
        out.writeInt(0);
        assertThatThrownBy(() -> ModelRefSerializer.INSTANCE.deserialize(new DataInputDeserializer(out.getCopyOfBuffer())))
                .isInstanceOf(IOException.class)
                .hasMessage("a model reference in state has format 2, and this release reads formats 1 to 1: the savepoint"
                        + " was written by a newer release of crmn-flink (or is damaged)");
    }

    @Test
    void theSnapshotIsCompatibleWithItselfMigratesFromGenericSerializersAndRefusesAnotherKindOfState() {
        var own = ModelRefSerializer.INSTANCE.snapshotConfiguration();
        assertThat(own.resolveSchemaCompatibility(ModelRefSerializer.INSTANCE.snapshotConfiguration()).isCompatibleAsIs()).isTrue();
        var generic = new org.apache.flink.api.java.typeutils.runtime.kryo.KryoSerializer<>(ModelRef.class,
                new org.apache.flink.api.common.serialization.SerializerConfigImpl()).snapshotConfiguration();
        assertThat(own.resolveSchemaCompatibility(generic).isCompatibleAfterMigration()).isTrue();
        @SuppressWarnings({"unchecked", "rawtypes"})
        TypeSerializerSchemaCompatibility<ModelRef> other = own.resolveSchemaCompatibility(
                (org.apache.flink.api.common.typeutils.TypeSerializerSnapshot) dev.crmn.jobs.finetune.ExampleSerializer.INSTANCE
                        .snapshotConfiguration());
        assertThat(other.isIncompatible()).isTrue();
    }
}
