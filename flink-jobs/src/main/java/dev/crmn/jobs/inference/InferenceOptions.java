package dev.crmn.jobs.inference;

import dev.crmn.connectors.format.Topics;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/** The options of the {@link InferenceJob}, as Flink {@link ConfigOption}s; flags are {@code --<key>}. */
public final class InferenceOptions {

    public static final ConfigOption<String> BOOTSTRAP_SERVERS = ConfigOptions.key("bootstrap-servers").stringType()
            .defaultValue("localhost:9092").withDescription("Kafka bootstrap servers.");
    public static final ConfigOption<String> FRAMES_TOPIC = ConfigOptions.key("frames-topic").stringType()
            .defaultValue(Topics.FRAMES).withDescription("Topic the frames are read from.");
    public static final ConfigOption<String> PREDICTIONS_TOPIC = ConfigOptions.key("predictions-topic").stringType()
            .defaultValue(Topics.PREDICTIONS).withDescription("Topic the predictions are written to (exactly once).");
    public static final ConfigOption<String> SHADOW_PREDICTIONS_TOPIC = ConfigOptions.key("shadow-predictions-topic")
            .stringType().defaultValue(Topics.SHADOW_PREDICTIONS).withDescription("Topic a shadow version's predictions"
                    + " are written to (exactly once); without it shadow announcements are ignored, said at the start.");
    public static final ConfigOption<Double> SHADOW_FRACTION = ConfigOptions.key("shadow-fraction").doubleType()
            .defaultValue(1.0).withDescription("Share of the batches a shadow version scores (0 < f <= 1; spread evenly):"
                    + " less costs less, and the quality job's paired test waits longer for its pairs.");
    public static final ConfigOption<String> DEAD_LETTERS_TOPIC = ConfigOptions.key("dead-letters-topic").stringType()
            .defaultValue(Topics.DEAD_LETTERS).withDescription("Topic frames that cannot be classified go to, with the reason.");
    public static final ConfigOption<String> MODEL_UPDATES_TOPIC = ConfigOptions.key("model-updates-topic").stringType()
            .defaultValue(Topics.MODEL_UPDATES).withDescription("Compacted topic of ModelRefs the job follows (hot-swap).");
    public static final ConfigOption<String> GROUP_ID = ConfigOptions.key("group-id").stringType()
            .defaultValue("crmn-inference").withDescription("Kafka consumer group of the frames source (offsets are"
                    + " checkpointed by Flink; the group's committed offsets are where a fresh job starts).");
    public static final ConfigOption<String> STARTING_OFFSETS = ConfigOptions.key("starting-offsets").stringType()
            .defaultValue("committed").withDescription("Where a job without a checkpoint starts reading frames: committed"
                    + " (the group's offsets, else the earliest), earliest or latest.");
    public static final ConfigOption<Integer> PARALLELISM = ConfigOptions.key("parallelism").intType()
            .defaultValue(0).withDescription("Parallel subtasks (slots); 0 = the number of cores here.");
    public static final ConfigOption<Long> CHECKPOINT_INTERVAL_MS = ConfigOptions.key("checkpoint-interval-ms").longType()
            .defaultValue(2000L).withDescription("Checkpoint interval. Predictions become visible to read-committed"
                    + " consumers when the checkpoint after them completes, so this bounds their latency.");
    public static final ConfigOption<Integer> BATCH_SIZE = ConfigOptions.key("batch-size").intType()
            .defaultValue(64).withDescription("Frames per micro-batch (rounded up to one of the sizes the serving network"
                    + " computes: powers of two up to 8, then multiples of 8).");
    public static final ConfigOption<Long> MAX_DELAY_MS = ConfigOptions.key("max-delay-ms").longType()
            .defaultValue(20L).withDescription("Longest a frame waits for its batch to fill.");
    public static final ConfigOption<String> MODEL = ConfigOptions.key("model").stringType().noDefaultValue()
            .withDescription("Initial model: a checkpoint directory (published to --store first) or a model store URI"
                    + " of a version (file:///..., s3://...). Default: the latest ModelRef on the model-updates topic.");
    public static final ConfigOption<String> MODEL_NAME = ConfigOptions.key("model-name").stringType().noDefaultValue()
            .withDescription("Without --model: which model's latest ModelRef to start from, when model-updates has several.");
    public static final ConfigOption<String> STORE = ConfigOptions.key("store").stringType().defaultValue("runs/store")
            .withDescription("Model store root (a path or a file system URI every TaskManager can read).");
    public static final ConfigOption<String> SIGNING_KEY_FILE = dev.crmn.jobs.common.StoreOptions.SIGNING_KEY_FILE;
    public static final ConfigOption<Boolean> REQUIRE_SIGNED = dev.crmn.jobs.common.StoreOptions.REQUIRE_SIGNED;
    public static final ConfigOption<String> MODEL_CACHE = dev.crmn.jobs.common.StoreOptions.MODEL_CACHE;
    public static final ConfigOption<Integer> TOP_K = ConfigOptions.key("top-k").intType().defaultValue(3)
            .withDescription("Classes per prediction.");
    public static final ConfigOption<Integer> THREADS_PER_SUBTASK = ConfigOptions.key("threads-per-subtask").intType()
            .defaultValue(0).withDescription("OpenMP threads each subtask's network uses; 0 = cores / parallelism"
                    + " (at least 1): one thread per slot when slots = cores.");
    public static final ConfigOption<String> ENGINE = ConfigOptions.key("engine").stringType().defaultValue("cpu")
            .withDescription("Inference engine: cpu (the ND4J/oneDNN fast path), cuda (the CUDA 13 engine: cuDNN 9 and"
                    + " cuBLAS on an NVIDIA GPU; builds with the cuda13 profile), auto (cuda where it can run, else cpu)"
                    + " or onnxruntime (the same network in ONNX Runtime's CPU build, faster on small batches; needs its"
                    + " jar in a cluster's lib/).");
    public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = ConfigOptions.key("transactional-id-prefix")
            .stringType().defaultValue("crmn-inference").withDescription("Prefix of the Kafka sinks' transactional"
                    + " ids; unique per job writing to a cluster.");

    public static final List<ConfigOption<?>> ALL = List.of(BOOTSTRAP_SERVERS, FRAMES_TOPIC, PREDICTIONS_TOPIC,
            SHADOW_PREDICTIONS_TOPIC, SHADOW_FRACTION,
            DEAD_LETTERS_TOPIC, MODEL_UPDATES_TOPIC, GROUP_ID, STARTING_OFFSETS, PARALLELISM, CHECKPOINT_INTERVAL_MS,
            BATCH_SIZE, MAX_DELAY_MS, MODEL, MODEL_NAME, STORE, SIGNING_KEY_FILE, REQUIRE_SIGNED, MODEL_CACHE, TOP_K,
            THREADS_PER_SUBTASK, ENGINE, TRANSACTIONAL_ID_PREFIX, dev.crmn.jobs.common.DecodeOptions.MAX_FRAME_BYTES,
            dev.crmn.jobs.common.DecodeOptions.MAX_FRAME_PIXELS, dev.crmn.jobs.common.Checkpointing.CHECKPOINT_DIR);

    private InferenceOptions() {
    }
}
