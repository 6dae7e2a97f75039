package dev.crmn.jobs.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.crmn.connectors.store.SigningKeys;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class StoreTrustTest {

    @Test
    void requireSignedRefusesToStartWithoutAKeyAndAKeyIsTaken(@TempDir Path dir) throws Exception {
        assumeThat(System.getenv(SigningKeys.ENV)).as("no store key in this environment").isNull();
        assertThatThrownBy(() -> StoreTrust.key(null, true, "runs/store")).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--require-signed: no signing key for the model store runs/store (--signing-key-file FILE or $"
                        + SigningKeys.ENV + ")");
        assertThat(StoreTrust.key(null, false, "runs/store")).as("unsigned, said loudly in the log").isNull();
        Path key = Files.writeString(dir.resolve("store.key"), "k");
        assertThat(StoreTrust.key(key.toString(), true, "runs/store").ids()).containsExactly(dev.crmn.connectors.store.Keyring.id("k".getBytes()));
    }
}
