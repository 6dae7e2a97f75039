package dev.crmn.connectors.store;

import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;

/**
 * The HMAC keys a signed model store is used with: the first signs what is published, every one verifies, so keys
 * can rotate (a new key first, the old one after it while versions it signed are still served). Each key is
 * named by its id, {@code sha256:} and 16 hex digits of the key's SHA-256 (safe to log and to ship; a signature
 * names the key that made it).
 */
public final class Keyring {

    private final Map<String, byte[]> keys = new LinkedHashMap<>();

    /** @param keys at least one; the first signs */
    public Keyring(List<byte[]> keys) {
        if (keys.isEmpty()) {
            throw new IllegalArgumentException("a keyring needs at least one key");
        }
        for (byte[] k : keys) {
            if (k.length == 0) {
                throw new IllegalArgumentException("an empty signing key");
            }
            this.keys.putIfAbsent(id(k), k.clone());
        }
    }

    public static Keyring of(byte[] key) {
        return new Keyring(List.of(key));
    }

    /** A key's id: {@code sha256:} and the first 16 hex digits of its SHA-256. */
    public static String id(byte[] key) {
        try {
            return "sha256:" + HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(key)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    /** The id of the key that signs. */
    public String signingId() {
        return keys.keySet().iterator().next();
    }

    /** Every key's id, the signing key's first. */
    public List<String> ids() {
        return new ArrayList<>(keys.keySet());
    }

    /** The keyring's fingerprint: its ids in order, comma-separated (what a job ships to its TaskManagers). */
    public String fingerprint() {
        return String.join(",", keys.keySet());
    }

    /** Hex HMAC-SHA256 of {@code bytes} with the key {@code id}; null if this keyring does not hold it. */
    public String mac(String id, byte[] bytes) {
        byte[] key = keys.get(id);
        if (key == null) {
            return null;
        }
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(bytes));
        } catch (NoSuchAlgorithmException | InvalidKeyException e) {
            throw new IllegalStateException("HMAC-SHA256: " + e.getMessage(), e);
        }
    }
}
