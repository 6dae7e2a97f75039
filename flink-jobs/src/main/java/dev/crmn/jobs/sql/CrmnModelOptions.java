package dev.crmn.jobs.sql;

import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.jobs.inference.InferenceOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/**
 * The {@code WITH (...)} options of {@code CREATE MODEL ... WITH ('provider' = 'crmn', ...)} (docs/sql.md). The
 * defaults are the inference job's: the same network runs the same batches either way.
 */
public final class CrmnModelOptions {

    public static final ConfigOption<String> MODEL = ConfigOptions.key("model").stringType().noDefaultValue()
            .withDescription("The model version: a checkpoint directory (models/crmn-demo), or a store URI of one version"
                    + " (file:///data/store/crmn-demo/3), as crmn infer --model.");
    public static final ConfigOption<String> STORE = ConfigOptions.key("store").stringType()
            .defaultValue(InferenceOptions.STORE.defaultValue())
            .withDescription("The model store whose status records (rolled back, rejected) and signing key apply.");
    public static final ConfigOption<String> ENGINE = ConfigOptions.key("engine").stringType()
            .defaultValue(InferenceOptions.ENGINE.defaultValue()).withDescription("cpu, onnxruntime, cuda or auto.");
    public static final ConfigOption<Integer> BATCH_SIZE = ConfigOptions.key("batch-size").intType()
            .defaultValue(InferenceOptions.BATCH_SIZE.defaultValue())
            .withDescription("Rows per micro-batch; at most table.exec.async-ml-predict.max-concurrent-operations.");
    public static final ConfigOption<Long> MAX_DELAY_MS = ConfigOptions.key("max-delay-ms").longType()
            .defaultValue(InferenceOptions.MAX_DELAY_MS.defaultValue())
            .withDescription("Longest a row waits for its batch to fill.");
    public static final ConfigOption<Integer> TOP_K = ConfigOptions.key("top-k").intType()
            .defaultValue(InferenceOptions.TOP_K.defaultValue()).withDescription("Classes in the top_k output column.");
    public static final ConfigOption<String> FOLLOW = ConfigOptions.key("follow").stringType().noDefaultValue()
            .withDescription("A model-updates topic to follow: the function swaps to each version announced to serve"
                    + " (or rolled back to) for the model's name, as the inference job does. Needs follow.bootstrap-servers.");
    public static final ConfigOption<String> FOLLOW_BOOTSTRAP_SERVERS = ConfigOptions.key("follow.bootstrap-servers")
            .stringType().noDefaultValue().withDescription("Kafka bootstrap servers of the follow topic.");
    public static final ConfigOption<String> SIGNING_KEY_FILE = ConfigOptions.key(StoreOptions.SIGNING_KEY_FILE.key())
            .stringType().noDefaultValue().withDescription(StoreOptions.SIGNING_KEY_FILE.description().toString());

    private CrmnModelOptions() {
    }
}
