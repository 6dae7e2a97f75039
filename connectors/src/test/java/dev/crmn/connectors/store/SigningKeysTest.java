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
        String f = Keyring.id("secret-1".getBytes());
        assertThat(f).startsWith("sha256:").hasSize(7 + 16).doesNotContain("secret");
        assertThat(Keyring.id("secret-1".getBytes())).isEqualTo(f);
        assertThat(Keyring.id("secret-2".getBytes())).isNotEqualTo(f);
        assertThat(SigningKeys.fingerprint(null)).isNull();
        assertThat(Keyring.of("secret-1".getBytes()).fingerprint()).isEqualTo(f);
    }

    @Test
    void aTaskManagerWithAnotherKeyOrNoneIsRefusedInOneLine(@TempDir Path dir) throws Exception {
        Path mine = Files.writeString(dir.resolve("mine.key"), "secret-1\n");
        Path other = Files.writeString(dir.resolve("other.key"), "secret-2");
        String expected = Keyring.id("secret-1".getBytes());
        assertThat(SigningKeys.resolveExpecting(mine, expected).ids()).containsExactly(expected);
        assertThatThrownBy(() -> SigningKeys.resolveExpecting(other, expected)).isInstanceOf(IOException.class)
                .hasMessageContaining(expected).hasMessageContaining(Keyring.id("secret-2".getBytes()))
                .hasMessageContaining("give every TaskManager the same key").hasMessageNotContaining("\n");
        assertThatThrownBy(() -> SigningKeys.resolveExpecting(mine, null))
                .hasMessageContaining("the job was started for an unsigned store");
        if (System.getenv(SigningKeys.ENV) == null) {
            assertThatThrownBy(() -> SigningKeys.resolveExpecting(null, expected)).hasMessageContaining("(none, from $"
                    + SigningKeys.ENV + ")");
            assertThat(SigningKeys.resolveExpecting(null, null)).isNull();
        }
    }

    @Test
    void aKeyFileHoldsOneKeyPerLineTheFirstSigns(@TempDir Path dir) throws Exception {
        Path rotating = Files.writeString(dir.resolve("rotating.key"), "  new-key \n\nold-key\n");
        Keyring keys = SigningKeys.resolve(rotating);
        assertThat(keys.ids()).containsExactly(Keyring.id("new-key".getBytes()), Keyring.id("old-key".getBytes()));
        assertThat(keys.signingId()).isEqualTo(Keyring.id("new-key".getBytes()));
        assertThat(keys.fingerprint()).isEqualTo(Keyring.id("new-key".getBytes()) + "," + Keyring.id("old-key".getBytes()));
        // a TaskManager whose file lacks the old key (or orders them otherwise) would trust something else
        Path newOnly = Files.writeString(dir.resolve("new.key"), "new-key\n");
        assertThatThrownBy(() -> SigningKeys.resolveExpecting(newOnly, keys.fingerprint()))
                .hasMessageContaining("is not the job's");
        assertThatThrownBy(() -> SigningKeys.resolve(Files.writeString(dir.resolve("blank.key"), "\n \n")))
                .hasMessageContaining("is empty");
    }
}
