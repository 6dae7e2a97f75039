package dev.crmn.connectors.store;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Where a model store's HMAC key comes from: a key file (its bytes, trailing newline trimmed) or the
 * environment variable {@value #ENV}. No key means an unsigned store.
 */
public final class SigningKeys {

    public static final String ENV = "CRMN_MODEL_STORE_KEY";

    private SigningKeys() {
    }

    /** The key from {@code keyFile} if given, else from {@value #ENV}, else null. */
    public static byte[] resolve(Path keyFile) throws IOException {
        if (keyFile != null) {
            String k = Files.readString(keyFile, StandardCharsets.UTF_8).strip();
            if (k.isEmpty()) {
                throw new IOException("signing key file " + keyFile + " is empty");
            }
            return k.getBytes(StandardCharsets.UTF_8);
        }
        String env = System.getenv(ENV);
        return env == null || env.isBlank() ? null : env.strip().getBytes(StandardCharsets.UTF_8);
    }

    /** A key's fingerprint ({@code sha256:} and 16 hex digits of its SHA-256), safe to log and to ship; null: no key. */
    public static String fingerprint(byte[] key) {
        if (key == null) {
            return null;
        }
        try {
            byte[] d = java.security.MessageDigest.getInstance("SHA-256").digest(key);
            return "sha256:" + java.util.HexFormat.of().formatHex(d).substring(0, 16);
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /**
     * The key, as {@link #resolve}, which must be the one the job was started with (its {@code expected}
     * fingerprint, null for an unsigned store): a TaskManager with another key, or none, would decide for itself
     * what it trusts.
     *
     * @throws IOException in one line naming both fingerprints
     */
    public static byte[] resolveExpecting(Path keyFile, String expected) throws IOException {
        byte[] key = resolve(keyFile);
        String got = fingerprint(key);
        if (!java.util.Objects.equals(got, expected)) {
            throw new IOException("this TaskManager's model store key (" + (got == null ? "none" : got) + ", from "
                    + (keyFile != null ? keyFile : "$" + ENV) + ") is not the job's (" + (expected == null
                    ? "none: the job was started for an unsigned store" : expected) + "): give every TaskManager the"
                    + " same key (a --signing-key-file path they all read, or $" + ENV + ")");
        }
        return key;
    }
}
