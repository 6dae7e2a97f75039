package dev.crmn.jobs.sql;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.Keyring;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.jobs.common.StoreTrust;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.ModelLoader;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.infer.OnnxRuntimeNetwork;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ReadableConfig;
import org.apache.flink.table.api.ValidationException;
import org.apache.flink.table.api.config.ExecutionConfigOptions;
import org.apache.flink.table.api.config.MLPredictRuntimeConfigOptions;
import org.apache.flink.table.catalog.Column;
import org.apache.flink.table.catalog.ResolvedSchema;
import org.apache.flink.table.factories.FactoryUtil;
import org.apache.flink.table.factories.ModelProviderFactory;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.ml.AsyncPredictRuntimeProvider;
import org.apache.flink.table.ml.ModelProvider;
import org.apache.flink.table.types.logical.LogicalType;
import org.apache.flink.table.types.logical.LogicalTypeFamily;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The {@code crmn} model provider: {@code CREATE MODEL m INPUT (image BYTES) OUTPUT (label STRING, ...) WITH
 * ('provider' = 'crmn', 'model' = ...)} then {@code ML_PREDICT(TABLE t, MODEL m, DESCRIPTOR(image))} classifies
 * each row in-process, in micro-batches ({@link CrmnPredictFunction}). Found through the service loader
 * ({@code META-INF/services/org.apache.flink.table.factories.Factory}) by the SQL client and by {@code crmn sql}.
 * Everything that can be wrong with the model or the columns is said here, when the statement is planned.
 */
public final class CrmnModelProviderFactory implements ModelProviderFactory {

    public static final String IDENTIFIER = "crmn";

    private static final Logger LOG = LoggerFactory.getLogger(CrmnModelProviderFactory.class);

    @Override
    public String factoryIdentifier() {
        return IDENTIFIER;
    }

    @Override
    public Set<ConfigOption<?>> requiredOptions() {
        return Set.of(CrmnModelOptions.MODEL);
    }

    @Override
    public Set<ConfigOption<?>> optionalOptions() {
        return Set.of(CrmnModelOptions.STORE, CrmnModelOptions.ENGINE, CrmnModelOptions.BATCH_SIZE,
                CrmnModelOptions.MAX_DELAY_MS, CrmnModelOptions.TOP_K, CrmnModelOptions.FOLLOW,
                CrmnModelOptions.FOLLOW_BOOTSTRAP_SERVERS, CrmnModelOptions.SIGNING_KEY_FILE);
    }

    @Override
    public ModelProvider createModelProvider(Context context) {
        FactoryUtil.ModelProviderFactoryHelper helper = FactoryUtil.createModelProviderFactoryHelper(this, context);
        helper.validate();
        ReadableConfig o = helper.getOptions();
        String name = context.getObjectIdentifier().asSummaryString();
        boolean contentType = checkInput(context.getCatalogModel().getResolvedInputSchema(), name);
        PredictColumns columns = PredictColumns.of(context.getCatalogModel().getResolvedOutputSchema());
        int batchSize = o.get(CrmnModelOptions.BATCH_SIZE);
        long maxDelay = o.get(CrmnModelOptions.MAX_DELAY_MS);
        int topK = o.get(CrmnModelOptions.TOP_K);
        if (batchSize < 1 || maxDelay < 0 || topK < 1) {
            throw new ValidationException("model " + name + ": batch-size and top-k must be >= 1, max-delay-ms >= 0");
        }
        String engine = o.get(CrmnModelOptions.ENGINE);
        try {
            ClassifierOptions.checkBuilt(engine);
        } catch (IllegalArgumentException e) {
            throw new ValidationException("model " + name + ": engine " + engine + ": " + e.getMessage());
        }
        if (ClassifierOptions.Engine.parse(engine) == ClassifierOptions.Engine.ONNXRUNTIME && !OnnxRuntimeNetwork.available()) {
            throw new ValidationException("model " + name + ": " + OnnxRuntimeNetwork.MISSING);
        }
        String follow = o.getOptional(CrmnModelOptions.FOLLOW).orElse(null);
        String followServers = o.getOptional(CrmnModelOptions.FOLLOW_BOOTSTRAP_SERVERS).orElse(null);
        if (follow != null && followServers == null) {
            throw new ValidationException("model " + name + ": 'follow' = '" + follow + "' needs 'follow.bootstrap-servers'");
        }
        String storeOption = o.get(CrmnModelOptions.STORE);
        String keyFile = o.getOptional(CrmnModelOptions.SIGNING_KEY_FILE).orElse(null);
        ModelRef ref;
        Manifest manifest;
        String fingerprint;
        try {
            Keyring key = StoreTrust.key(keyFile, false, storeOption);
            fingerprint = SigningKeys.fingerprint(key);
            ModelStore store = new ModelStore(new org.apache.flink.core.fs.Path(ModelStore.rootUri(storeOption)), key);
            ref = ModelStore.refAt(modelUri(o.get(CrmnModelOptions.MODEL)));
            manifest = store.verify(ref);
        } catch (IOException | RuntimeException e) {
            throw new ValidationException("model " + name + ": cannot use 'model' = '" + o.get(CrmnModelOptions.MODEL)
                    + "': " + e.getMessage(), e);
        }
        int concurrency = context.getConfiguration().get(ExecutionConfigOptions.TABLE_EXEC_ASYNC_ML_PREDICT_MAX_CONCURRENT_OPERATIONS);
        StoreOptions.Location store = new StoreOptions.Location(ModelStore.rootUri(storeOption), keyFile, fingerprint);
        CrmnPredictFunction.Settings settings = new CrmnPredictFunction.Settings(ref, ModelLoader.Expected.of(manifest),
                store, engine, batchSize, maxDelay, topK, follow, followServers,
                dev.crmn.connectors.image.DecoderSettings.defaults(), columns, contentType);
        return new Provider(name, settings, concurrency);
    }

    /** A checkpoint directory as a file URI; a URI as given. */
    static String modelUri(String model) throws IOException {
        Path dir = InferenceJob.localModelDir(model);
        if (dir == null) {
            return model;
        }
        if (!Files.isDirectory(dir)) {
            throw new IOException("no such checkpoint directory " + dir.toAbsolutePath());
        }
        return dir.toAbsolutePath().toUri().toString();
    }

    /** One BYTES column, optionally a STRING content type after it; says whether that second column is there. */
    private static boolean checkInput(ResolvedSchema input, String name) {
        List<Column> cols = input.getColumns();
        String shape = "a crmn model takes INPUT (image BYTES) or INPUT (image BYTES, content_type STRING)";
        if (cols.isEmpty() || cols.size() > 2) {
            throw new ValidationException("model " + name + ": " + shape + "; it has " + cols.size() + " columns");
        }
        LogicalType first = cols.get(0).getDataType().getLogicalType();
        if (!first.is(LogicalTypeFamily.BINARY_STRING)) {
            throw new ValidationException("model " + name + ": " + shape + "; " + cols.get(0).getName() + " is " + first);
        }
        if (cols.size() == 2 && !cols.get(1).getDataType().getLogicalType().is(LogicalTypeFamily.CHARACTER_STRING)) {
            throw new ValidationException("model " + name + ": " + shape + "; " + cols.get(1).getName() + " is "
                    + cols.get(1).getDataType().getLogicalType());
        }
        return cols.size() == 2;
    }

    /**
     * The runtime provider: the planner asks it for the async function with the query's own options; the batch is
     * capped at the async operator's capacity (more rows than that are never in flight at once).
     */
    static final class Provider implements AsyncPredictRuntimeProvider {
        private final String name;
        private final CrmnPredictFunction.Settings settings;
        private final int sessionConcurrency;

        Provider(String name, CrmnPredictFunction.Settings settings, int sessionConcurrency) {
            this.name = name;
            this.settings = settings;
            this.sessionConcurrency = sessionConcurrency;
        }

        @Override
        public AsyncPredictFunction createAsyncPredictFunction(Context context) {
            int capacity = context.runtimeConfig().getOptional(MLPredictRuntimeConfigOptions.ASYNC_MAX_CONCURRENT_OPERATIONS)
                    .orElse(sessionConcurrency);
            if (capacity >= settings.batchSize()) {
                return new CrmnPredictFunction(settings);
            }
            LOG.warn("model {}: batch-size {} but at most {} rows in flight (table.exec.async-ml-predict."
                    + "max-concurrent-operations, or 'max-concurrent-operations' in ML_PREDICT's config): batches"
                    + " of {}; set it to twice the batch size for full batches", name, settings.batchSize(), capacity, capacity);
            return new CrmnPredictFunction(settings.withBatchSize(capacity));
        }

        @Override
        public ModelProvider copy() {
            return new Provider(name, settings, sessionConcurrency);
        }
    }
}
