package dev.crmn.connectors.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A TaskManager must hold the key the job was started with; the fingerprint says which without revealing it. */
class SigningKeysTest {

    @Test
    void aFingerprintNamesAKeyWithoutRevealingIt() {
        String f = SigningKeys.fingerprint("secret-1".getBytes());
        assertThat(f).startsWith("sha256:").hasSize(7 + 16).doesNotContain("secret");
        assertThat(SigningKeys.fingerprint("secret-1".getBytes())).isEqualTo(f);
        assertThat(SigningKeys.fingerprint("secret-2".getBytes())).isNotEqualTo(f);
        assertThat(SigningKeys.fingerprint(null)).isNull();
    }

    @Test
    void aTaskManagerWithAnotherKeyOrNoneIsRefusedInOneLine(@TempDir Path dir) throws Exception {
        Path mine = Files.writeString(dir.resolve("mine.key"), "secret-1\n");
        Path other = Files.writeString(dir.resolve("other.key"), "secret-2");
        String expected = SigningKeys.fingerprint("secret-1".getBytes());
        assertThat(SigningKeys.resolveExpecting(mine, expected)).isEqualTo("secret-1".getBytes());
        assertThatThrownBy(() -> SigningKeys.resolveExpecting(other, expected)).isInstanceOf(IOException.class)
                .hasMessageContaining(expected).hasMessageContaining(SigningKeys.fingerprint("secret-2".getBytes()))
                .hasMessageContaining("give every TaskManager the same key").hasMessageNotContaining("\n");
        assertThatThrownBy(() -> SigningKeys.resolveExpecting(mine, null))
                .hasMessageContaining("the job was started for an unsigned store");
        if (System.getenv(SigningKeys.ENV) == null) {
            assertThatThrownBy(() -> SigningKeys.resolveExpecting(null, expected)).hasMessageContaining("(none, from $"
                    + SigningKeys.ENV + ")");
            assertThat(SigningKeys.resolveExpecting(null, null)).isNull();
        }
    }
}
