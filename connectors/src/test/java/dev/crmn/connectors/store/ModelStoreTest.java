package dev.crmn.connectors.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.testutil.Checkpoints2;
import dev.crmn.model.checkpoint.CheckpointException;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;

import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelStoreTest {

    @TempDir
    static java.nio.file.Path dir;
    static java.nio.file.Path v1;
    static java.nio.file.Path v2;

    @BeforeAll
    static void checkpoints() throws Exception {
        v1 = Checkpoints2.tiny(dir.resolve("local-v1"), 1, null);
        v2 = Checkpoints2.tiny(dir.resolve("local-v2"), 2, 1L);
    }

    private static ModelStore store(String name, byte[] key) {
        return new ModelStore(new Path(dir.resolve(name).toUri()), key);
    }

    @Test
    void publishListResolveLatestAndFetchVerified() throws Exception {
        ModelStore store = store("store", null);
        assertThat(store.latest("tiny")).isEmpty();
        ModelRef r1 = store.publish(v1);
        ModelRef r2 = store.publish(v2);
        assertThat(store.list("tiny")).extracting(ModelRef::version).containsExactly(1L, 2L);
        assertThat(store.latest("tiny")).contains(store.list("tiny").get(1));
        assertThat(r2.parentVersion()).isEqualTo(1L);
        assertThat(r1.sha256()).isEqualTo(Checkpoints.sha256(v1.resolve(Checkpoints.MODEL)));
        assertThat(r1.uri()).startsWith("file:");
        java.nio.file.Path local = store.fetch(r2, dir.resolve("fetched-v2"));
        assertThat(Checkpoints.load(local, false).manifest().version()).isEqualTo(2);
        assertThatThrownBy(() -> store.publish(v1)).isInstanceOf(CheckpointException.class).hasMessageContaining("already published");
        try (var s = Files.list(dir.resolve("store").resolve("tiny"))) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
        }
    }

    @Test
    void aTamperedPublishedFileIsRefused() throws Exception {
        ModelStore store = store("tamper", null);
        ModelRef r = store.publish(v1);
        java.nio.file.Path zip = java.nio.file.Path.of(java.net.URI.create(r.uri())).resolve(Checkpoints.MODEL);
        try (RandomAccessFile f = new RandomAccessFile(zip.toFile(), "rw")) {
            f.seek(100);
            int b = f.read();
            f.seek(100);
            f.write(b ^ 1);
        }
        assertThatThrownBy(() -> store.fetch(r, dir.resolve("fetched-tampered"))).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("SHA-256");
        ModelRef forged = new ModelRef(r.schema(), r.name(), r.version(), r.uri(), "00".repeat(32), r.metrics(), null, 0);
        assertThatThrownBy(() -> store.fetch(forged, dir.resolve("fetched-forged"))).hasMessageContaining("the reference says");
    }

    @Test
    void signedStoresRefuseUnsignedAndWronglySignedCheckpoints() throws Exception {
        byte[] key = "s3cret".getBytes(StandardCharsets.UTF_8);
        ModelStore signed = store("signed", key);
        ModelRef r = signed.publish(v1);
        java.nio.file.Path ok = signed.fetch(r, dir.resolve("signed-ok"));
        assertThat(Checkpoints.readManifest(ok.resolve(Checkpoints.MANIFEST)).signature()).hasSize(64);
        ModelStore otherKey = new ModelStore(signed.root(), "other".getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> otherKey.fetch(r, dir.resolve("signed-bad"))).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("wrong signature");
        ModelRef unsigned = store("unsigned", null).publish(v2);
        assertThatThrownBy(() -> signed.fetch(unsigned, dir.resolve("unsigned"))).hasMessageContaining("not signed");
        // A signed manifest whose metrics were edited no longer verifies.
        java.nio.file.Path published = java.nio.file.Path.of(java.net.URI.create(r.uri()));
        Manifest m = Checkpoints.readManifest(published.resolve(Checkpoints.MANIFEST));
        Checkpoints.writeManifest(published.resolve(Checkpoints.MANIFEST),
                m.withMetrics(java.util.Map.of("val_accuracy", 0.99)));
        assertThatThrownBy(() -> signed.fetch(r, dir.resolve("signed-edited"))).hasMessageContaining("wrong signature");
    }
}
