package dev.crmn.connectors.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Where a model store's HMAC keys come from: a key file, else the environment variable {@value #ENV} (one key).
 * A key file holds one key per line (blank lines ignored, each line's surrounding white space trimmed): the first
 * signs, every one verifies ({@link Keyring}; that is how keys rotate). No key means an unsigned store.
 */
public final class SigningKeys {

    public static final String ENV = "CRMN_MODEL_STORE_KEY";

    private SigningKeys() {
    }

    /** The keys from {@code keyFile} if given, else from {@value #ENV}, else null. */
    public static Keyring resolve(Path keyFile) throws IOException {
        if (keyFile != null) {
            List<byte[]> keys = new ArrayList<>();
            for (String line : Files.readAllLines(keyFile, StandardCharsets.UTF_8)) {
                if (!line.isBlank()) {
                    keys.add(line.strip().getBytes(StandardCharsets.UTF_8));
                }
            }
            if (keys.isEmpty()) {
                throw new IOException("signing key file " + keyFile + " is empty");
            }
            return new Keyring(keys);
        }
        String env = System.getenv(ENV);
        return env == null || env.isBlank() ? null : Keyring.of(env.strip().getBytes(StandardCharsets.UTF_8));
    }

    /** A keyring's fingerprint ({@link Keyring#fingerprint}), safe to log and to ship; null: no key. */
    public static String fingerprint(Keyring keys) {
        return keys == null ? null : keys.fingerprint();
    }

    /**
     * The keys, as {@link #resolve}, which must be the ones the job was started with (its {@code expected}
     * fingerprint, null for an unsigned store): a TaskManager with other keys, or none, would decide for itself
     * what it trusts.
     *
     * @throws IOException in one line naming both fingerprints
     */
    public static Keyring resolveExpecting(Path keyFile, String expected) throws IOException {
        Keyring keys = resolve(keyFile);
        String got = fingerprint(keys);
        if (!java.util.Objects.equals(got, expected)) {
            throw new IOException("this TaskManager's model store key (" + (got == null ? "none" : got) + ", from "
                    + (keyFile != null ? keyFile : "$" + ENV) + ") is not the job's (" + (expected == null
                    ? "none: the job was started for an unsigned store" : expected) + "): give every TaskManager the"
                    + " same key (a --signing-key-file path they all read, or $" + ENV + ")");
        }
        return keys;
    }
}
