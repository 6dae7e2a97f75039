package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.Topics;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.StoreOptions;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;

/** The options of the {@link QualityJob}, as Flink {@link ConfigOption}s; flags are {@code --<key>}. */
public final class QualityOptions {

    public static final ConfigOption<String> BOOTSTRAP_SERVERS = ConfigOptions.key("bootstrap-servers").stringType()
            .defaultValue("localhost:9092").withDescription("Kafka bootstrap servers.");
    public static final ConfigOption<String> PREDICTIONS_TOPIC = ConfigOptions.key("predictions-topic").stringType()
            .defaultValue(Topics.PREDICTIONS).withDescription("Topic of predictions (read committed).");
    public static final ConfigOption<String> SHADOW_PREDICTIONS_TOPIC = ConfigOptions.key("shadow-predictions-topic")
            .stringType().defaultValue(Topics.SHADOW_PREDICTIONS).withDescription("Topic of shadow versions' predictions"
                    + " (read committed), compared with the serving version's on the same frames.");
    public static final ConfigOption<String> LABELS_TOPIC = ConfigOptions.key("labels-topic").stringType()
            .defaultValue(Topics.LABELS).withDescription("Topic of late labels ({\"frame_id\", \"label\"}).");
    public static final ConfigOption<String> MODEL_UPDATES_TOPIC = ConfigOptions.key("model-updates-topic").stringType()
            .defaultValue(Topics.MODEL_UPDATES).withDescription("Compacted topic rollbacks are announced on (and read"
                    + " from: a rollback by hand is marked).");
    public static final ConfigOption<String> MODEL_QUALITY_TOPIC = ConfigOptions.key("model-quality-topic").stringType()
            .defaultValue(Topics.MODEL_QUALITY).withDescription("Compacted topic of the latest figures per version.");
    public static final ConfigOption<String> DEAD_LETTERS_TOPIC = ConfigOptions.key("dead-letters-topic").stringType()
            .defaultValue(Topics.DEAD_LETTERS).withDescription("Topic unreadable predictions and labels go to.");
    public static final ConfigOption<String> GROUP_ID = ConfigOptions.key("group-id").stringType()
            .defaultValue("crmn-quality").withDescription("Kafka consumer group of the job's sources.");
    public static final ConfigOption<String> STORE = ConfigOptions.key("store").stringType().defaultValue("runs/store")
            .withDescription("Model store: where rollbacks are recorded and class names resolved.");
    public static final ConfigOption<Integer> MIN_LABELLED = ConfigOptions.key("min-labelled").intType()
            .defaultValue(200).withDescription("Labelled predictions a version (and the one it replaced) needs before"
                    + " the first rollback test; later tests at twice, four times as many...");
    public static final ConfigOption<Double> ALPHA = ConfigOptions.key("alpha").doubleType().defaultValue(0.01)
            .withDescription("Largest chance, over all its tests, of rolling back a version that is no worse than the"
                    + " one it replaced (one-sided two-proportion z-test; test k at alpha/2^(k+1)).");
    public static final ConfigOption<Integer> SHADOW_MAX_PAIRS = ConfigOptions.key("shadow-max-pairs").intType()
            .defaultValue(5000).withDescription("A shadow not significantly better than the serving version after this"
                    + " many labelled frames both classified is rejected.");
    public static final ConfigOption<Long> MAX_LABEL_DELAY = ConfigOptions.key("max-label-delay").longType()
            .defaultValue(600L).withDescription("Seconds a prediction waits for a late label (and a label for its"
                    + " prediction); bounds the join's state.");
    public static final ConfigOption<Long> WINDOW = ConfigOptions.key("window").longType().defaultValue(300L)
            .withDescription("Seconds of the sliding window of live accuracy.");
    public static final ConfigOption<Long> REPORT_INTERVAL_MS = ConfigOptions.key("report-interval-ms").longType()
            .defaultValue(5000L).withDescription("How often changed figures go to model-quality.");
    public static final ConfigOption<Long> CHECKPOINT_INTERVAL_MS = ConfigOptions.key("checkpoint-interval-ms").longType()
            .defaultValue(5000L).withDescription("Checkpoint interval; announcements and figures are committed with it.");
    public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = ConfigOptions.key("transactional-id-prefix")
            .stringType().defaultValue("crmn-quality").withDescription("Prefix of the Kafka sinks' transactional ids.");

    public static final List<ConfigOption<?>> ALL = List.of(BOOTSTRAP_SERVERS, PREDICTIONS_TOPIC, SHADOW_PREDICTIONS_TOPIC,
            LABELS_TOPIC,
            MODEL_UPDATES_TOPIC, MODEL_QUALITY_TOPIC, DEAD_LETTERS_TOPIC, GROUP_ID, STORE, StoreOptions.SIGNING_KEY_FILE,
            StoreOptions.REQUIRE_SIGNED, MIN_LABELLED, ALPHA, SHADOW_MAX_PAIRS, MAX_LABEL_DELAY, WINDOW, REPORT_INTERVAL_MS,
            CHECKPOINT_INTERVAL_MS, TRANSACTIONAL_ID_PREFIX, Checkpointing.CHECKPOINT_DIR);

    private QualityOptions() {
    }
}
