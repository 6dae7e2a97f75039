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
}
