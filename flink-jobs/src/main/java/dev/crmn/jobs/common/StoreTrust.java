package dev.crmn.jobs.common;

import dev.crmn.connectors.store.Keyring;
import dev.crmn.connectors.store.SigningKeys;
import java.io.IOException;
import java.nio.file.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What a job trusts in its model store, decided once where it starts: with a signing key, only versions whose
 * manifests carry its signature (the key's fingerprint then travels in the job's settings, and every TaskManager
 * must hold the same key); without one, any version anyone could write to the store, which the job says loudly,
 * unless {@code --require-signed} forbids it.
 */
public final class StoreTrust {

    private static final Logger LOG = LoggerFactory.getLogger(StoreTrust.class);

    private StoreTrust() {
    }

    /**
     * The store's keys ({@code --signing-key-file}, else {@code $CRMN_MODEL_STORE_KEY}), or null for an unsigned store.
     *
     * @throws IllegalArgumentException with {@code requireSigned} and no key
     */
    public static Keyring key(String keyFile, boolean requireSigned, String store) throws IOException {
        Keyring key = SigningKeys.resolve(keyFile == null ? null : Path.of(keyFile));
        if (key == null && requireSigned) {
            throw new IllegalArgumentException("--require-signed: no signing key for the model store " + store
                    + " (--signing-key-file FILE or $" + SigningKeys.ENV + ")");
        }
        if (key == null) {
            LOG.warn("the model store {} is unsigned: whoever can write to it decides which weights this job runs."
                    + " Give it a key (--signing-key-file FILE or ${}) and --require-signed", store, SigningKeys.ENV);
        } else {
            LOG.info("the model store {} is signed (key {}{})", store, key.signingId(), key.ids().size() == 1 ? ""
                    : "; also verifying with " + String.join(", ", key.ids().subList(1, key.ids().size())));
        }
        return key;
    }
}
