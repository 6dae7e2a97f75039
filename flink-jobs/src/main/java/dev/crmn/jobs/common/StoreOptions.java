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
     * Where a job's store is and how to trust it, shipped with the job graph (no secrets): its root URI, the key
     * file (null: {@code $CRMN_MODEL_STORE_KEY} or unsigned) and the fingerprint of the key the job was started with.
     */
    public record Location(String uri, String keyFile, String keyFingerprint) implements java.io.Serializable {

        /** On a TaskManager: the store, with the key read there and checked against the fingerprint. */
        public ModelStore open() throws IOException {
            return new ModelStore(new org.apache.flink.core.fs.Path(uri),
                    SigningKeys.resolveExpecting(keyFile == null ? null : Path.of(keyFile), keyFingerprint));
        }
    }

    /**
     * On a TaskManager, in an operator's {@code open()}: the store (its root {@code storeUri}; the key from
     * {@code keyFile} or the environment, checked against {@code keyFingerprint}) and this TaskManager's cache of it
     * ({@code configuredCache}, else in the TaskManager's first temporary directory).
     */
    public static ModelCache openCache(AbstractStreamOperator<?> operator, String storeUri, String keyFile,
                                       String keyFingerprint, String configuredCache) throws IOException {
        String[] tmp = operator.getContainingTask().getEnvironment().getTaskManagerInfo().getTmpDirectories();
        return openCache(new Location(storeUri, keyFile, keyFingerprint), configuredCache,
                tmp.length > 0 ? Path.of(tmp[0]) : null);
    }

    /**
     * The store at {@code store} (its key read here) and this process's cache of it: {@code configuredCache}, else
     * {@link ModelCache#DIR_NAME} in {@code localTmp}. For code that has no operator (a SQL function).
     */
    public static ModelCache openCache(Location store, String configuredCache, Path localTmp) throws IOException {
        return new ModelCache(store.open(), ModelCache.dir(configuredCache, localTmp));
    }
}
