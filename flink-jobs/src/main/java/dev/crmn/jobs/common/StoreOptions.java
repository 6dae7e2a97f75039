package dev.crmn.jobs.common;

import dev.crmn.connectors.store.ModelCache;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import java.io.IOException;
import java.nio.file.Path;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;

/**
 * The model-store options both jobs share (one declaration, one default each), and how a TaskManager opens the
 * store and its local cache: the key is read there and must be the one the job was started with
 * ({@link SigningKeys#resolveExpecting}); the cache lies where the TaskManager says ({@link ModelCache#dir}).
 */
public final class StoreOptions {

    public static final ConfigOption<String> SIGNING_KEY_FILE = ConfigOptions.key("signing-key-file").stringType()
            .noDefaultValue().withDescription("HMAC key file of a signed store (default: $" + SigningKeys.ENV + ", else"
                    + " unsigned). Read where the job starts and on every TaskManager.");
    public static final ConfigOption<Boolean> REQUIRE_SIGNED = ConfigOptions.key("require-signed").booleanType()
            .defaultValue(false).withDescription("Refuse to start without a signing key (a signed store refuses"
                    + " unsigned and tampered versions); default: start with an unsigned store, saying so.");
    public static final ConfigOption<String> MODEL_CACHE = ConfigOptions.key("model-cache").stringType().noDefaultValue()
            .withDescription("Local directory each TaskManager fetches checkpoints into (default: " + ModelCache.DIR_NAME
                    + " in the TaskManager's temporary directory); it keeps the " + ModelCache.DEFAULT_KEEP
                    + " most recently used versions.");

    private StoreOptions() {
    }

    /**
     * On a TaskManager, in an operator's {@code open()}: the store (its root {@code storeUri}; the key from
     * {@code keyFile} or the environment, checked against {@code keyFingerprint}) and this TaskManager's cache of it
     * ({@code configuredCache}, else in the TaskManager's first temporary directory).
     */
    public static ModelCache openCache(AbstractStreamOperator<?> operator, String storeUri, String keyFile,
                                       String keyFingerprint, String configuredCache) throws IOException {
        dev.crmn.connectors.store.Keyring key = SigningKeys.resolveExpecting(keyFile == null ? null : Path.of(keyFile), keyFingerprint);
        String[] tmp = operator.getContainingTask().getEnvironment().getTaskManagerInfo().getTmpDirectories();
        Path dir = ModelCache.dir(configuredCache, tmp.length > 0 ? Path.of(tmp[0]) : null);
        return new ModelCache(new ModelStore(new org.apache.flink.core.fs.Path(storeUri), key), dir);
    }
}
