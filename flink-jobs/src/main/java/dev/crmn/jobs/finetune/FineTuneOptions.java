package dev.crmn.jobs.finetune;

import dev.crmn.connectors.format.Topics;
import java.util.List;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;

/** The options of the {@link FineTuneJob}, as Flink {@link ConfigOption}s; flags are {@code --<key>}. */
public final class FineTuneOptions {

    public static final ConfigOption<String> BOOTSTRAP_SERVERS = ConfigOptions.key("bootstrap-servers").stringType()
            .defaultValue("localhost:9092").withDescription("Kafka bootstrap servers.");
    public static final ConfigOption<String> LABELLED_TOPIC = ConfigOptions.key("labelled-topic").stringType()
            .defaultValue(Topics.FRAMES_LABELLED).withDescription("Topic of labelled frames (the label header is required).");
    public static final ConfigOption<String> DEAD_LETTERS_TOPIC = ConfigOptions.key("dead-letters-topic").stringType()
            .defaultValue(Topics.DEAD_LETTERS).withDescription("Topic unusable frames go to, with the reason.");
    public static final ConfigOption<String> MODEL_UPDATES_TOPIC = ConfigOptions.key("model-updates-topic").stringType()
            .defaultValue(Topics.MODEL_UPDATES).withDescription("Compacted topic promoted versions are announced on"
                    + " (and versions promoted elsewhere are read from).");
    public static final ConfigOption<String> GROUP_ID = ConfigOptions.key("group-id").stringType()
            .defaultValue("crmn-finetune").withDescription("Kafka consumer group of the labelled source.");
    public static final ConfigOption<String> STORE = ConfigOptions.key("store").stringType().defaultValue("runs/store")
            .withDescription("Model store root (a path or a file system URI every TaskManager can read and write).");
    public static final ConfigOption<String> MODEL = ConfigOptions.key("model").stringType().noDefaultValue()
            .withDescription("Name of the model to fine-tune: the job starts from its latest version in the store.");
    public static final ConfigOption<String> SIGNING_KEY_FILE = dev.crmn.jobs.common.StoreOptions.SIGNING_KEY_FILE;
    public static final ConfigOption<Boolean> REQUIRE_SIGNED = dev.crmn.jobs.common.StoreOptions.REQUIRE_SIGNED;
    public static final ConfigOption<String> MODEL_CACHE = dev.crmn.jobs.common.StoreOptions.MODEL_CACHE;
    public static final ConfigOption<Integer> ROUND_FRAMES = ConfigOptions.key("round-frames").intType().defaultValue(2000)
            .withDescription("New labelled training frames that start a round.");
    public static final ConfigOption<Long> ROUND_INTERVAL = ConfigOptions.key("round-interval").longType().defaultValue(120L)
            .withDescription("Seconds after which a round starts anyway if any new frame arrived.");
    public static final ConfigOption<Integer> ROUND_STEPS = ConfigOptions.key("round-steps").intType().defaultValue(150)
            .withDescription("Optimisation steps per round.");
    public static final ConfigOption<Integer> BATCH_SIZE = ConfigOptions.key("batch-size").intType().defaultValue(64)
            .withDescription("Mini-batch size of the rounds.");
    public static final ConfigOption<Double> LEARNING_RATE = ConfigOptions.key("learning-rate").doubleType()
            .defaultValue(0.02).withDescription("Learning rate of the learner (constant after a short warm-up: the"
                    + " weight average anneals, not the rate).");
    public static final ConfigOption<Double> AVERAGE_DECAY = ConfigOptions.key("average-decay").doubleType()
            .defaultValue(0.998).withDescription("Per-step decay of the moving average of the learner's weights, which is"
                    + " each round's candidate (0: the candidate is the learner's weights themselves).");
    public static final ConfigOption<String> GATE_TEST = ConfigOptions.key("gate-test").stringType()
            .defaultValue("loss").withDescription("The paired test of candidate against serving model on the same holdout"
                    + " images: loss (Student's paired t-test on each image's cross-entropy, the candidate's accuracy not"
                    + " below the serving model's) or mcnemar (exact McNemar on the images the two disagree about, at"
                    + " least --margin points gained); docs/finetune.md.");
    public static final ConfigOption<Double> MARGIN = ConfigOptions.key("margin").doubleType().noDefaultValue()
            .withDescription("Points of holdout accuracy a candidate must gain over the serving model to be promoted"
                    + " (default: 0 with --gate-test loss, 0.5 with mcnemar).");
    public static final ConfigOption<Double> SIGNIFICANCE = ConfigOptions.key("significance").doubleType()
            .defaultValue(0.05).withDescription("Largest p-value of the paired test (--gate-test) that promotes a"
                    + " candidate: at most this share of candidates no better than the serving model is promoted.");
    public static final ConfigOption<Integer> PATIENCE = ConfigOptions.key("patience").intType().defaultValue(3)
            .withDescription("While no new frames arrive, rounds go on over the replay reservoir until this many"
                    + " candidates were refused without progress (no better than the serving model on the holdout; one"
                    + " better, only not yet significantly, does not count); then the job waits for new frames (0: no"
                    + " such rounds).");
    public static final ConfigOption<Integer> MIN_HOLDOUT = ConfigOptions.key("min-holdout").intType().defaultValue(100)
            .withDescription("Fewest holdout images a promotion is decided on; rounds wait (reported as skipped) until"
                    + " the holdout has them.");
    public static final ConfigOption<Integer> HOLDOUT_PERCENT = ConfigOptions.key("holdout-percent").intType()
            .defaultValue(10).withDescription("Share of labelled frames (by a hash of their decoded pixels: the same image"
                    + " sent twice lands on the same side) kept for the holdout.");
    public static final ConfigOption<Integer> HOLDOUT_SIZE = ConfigOptions.key("holdout-size").intType()
            .defaultValue(2000).withDescription("Largest holdout; when full, a new holdout image takes the place of the"
                    + " most used one, which leaves for training.");
    public static final ConfigOption<Integer> HOLDOUT_MAX_USES = ConfigOptions.key("holdout-max-uses").intType()
            .defaultValue(20).withDescription("Rounds a holdout image decides at most; then it leaves for training (so"
                    + " the gate never fits one fixed holdout).");
    public static final ConfigOption<Integer> RESERVOIR_SIZE = ConfigOptions.key("reservoir-size").intType()
            .defaultValue(20000).withDescription("Largest replay reservoir (a uniform sample of every training frame seen).");
    public static final ConfigOption<String> ANCHOR = ConfigOptions.key("anchor").stringType().noDefaultValue()
            .withDescription("Clean labelled images of what the model already knows (CIFAR-10 binary files or image"
                    + " folders, comma-separated, readable where the job runs; a bare name such as data_batch_1.bin is taken from"
                    + " the CIFAR-10 copy the tools find; e.g. part of its own training data), mixed"
                    + " into every round so that adapting to a drifted stream does not forget the undrifted one"
                    + " (default: none).");
    public static final ConfigOption<Integer> ANCHOR_IMAGES = ConfigOptions.key("anchor-images").intType()
            .defaultValue(5000).withDescription("Anchor images kept in memory (a seeded sample of --anchor).");
    public static final ConfigOption<Double> ANCHOR_SHARE = ConfigOptions.key("anchor-share").doubleType()
            .defaultValue(0.2).withDescription("Share of each round's training images taken from the anchor.");
    public static final ConfigOption<Integer> ANCHOR_CHECK_IMAGES = ConfigOptions.key("anchor-check-images").intType()
            .defaultValue(Anchor.DEFAULT_CHECK_IMAGES).withDescription("Anchor images held out of training (at most a"
                    + " fifth of --anchor) for the forgetting check: a candidate more than --max-forgetting points below"
                    + " the version fine-tuning started from on them is refused; 0 = no check.");
    public static final ConfigOption<Double> MAX_FORGETTING = ConfigOptions.key("max-forgetting").doubleType()
            .defaultValue(Anchor.DEFAULT_MAX_FORGETTING).withDescription("Points of accuracy on the anchor's held-out"
                    + " images a candidate may lose against the version fine-tuning started from (with --anchor).");
    /** The distillation weight with {@code --anchor} unless {@link #DISTILLATION} is set (docs/results.md, "Drift"). */
    public static final double ANCHORED_DISTILLATION = 0.5;
    public static final ConfigOption<Double> DISTILLATION = ConfigOptions.key("distillation").doubleType()
            .noDefaultValue().withDescription("Weight of the base model's own predictions in the learner's training"
                    + " targets (knowledge distillation from the version the learner started from): against a drift it"
                    + " keeps what the model did on undrifted images, at the cost of adapting more slowly (docs/results.md,"
                    + " the drift table); 0 = the labels alone. Default: " + ANCHORED_DISTILLATION + " with --anchor"
                    + " (a drifted stream), else 0.");
    public static final ConfigOption<Boolean> SHADOW = ConfigOptions.key("shadow").booleanType().defaultValue(false)
            .withDescription("Announce promoted versions as shadows: scored beside the serving version on live traffic"
                    + " until the quality job serves or rejects them (docs/rollout.md); default: announce them to serve.");
    public static final ConfigOption<Integer> PRUNE_KEEP = ConfigOptions.key("prune-keep").intType().defaultValue(0)
            .withDescription("After each promotion, delete the weights of versions nothing can use any more, as crmn models"
                    + " prune --keep N does: the N newest stay, and so do the serving version, shadows, versions newer than"
                    + " the serving one and the " + dev.crmn.connectors.store.Retention.DEFAULT_KEEP_SERVED + " most"
                    + " recently served (docs/checkpoints.md); 0 = never (prune by hand or from cron).");
    public static final ConfigOption<Long> CHECKPOINT_INTERVAL_MS = ConfigOptions.key("checkpoint-interval-ms").longType()
            .defaultValue(30_000L).withDescription("Checkpoint interval. Each checkpoint writes the whole reservoir and"
                    + " holdout (60-90 MB at the default sizes); a promoted version is published after the checkpoint that"
                    + " holds it and announced with the one after (a stop with a savepoint publishes it, and the next"
                    + " start announces it); docs/finetune.md, \"How often to checkpoint\".");
    public static final ConfigOption<String> TRANSACTIONAL_ID_PREFIX = ConfigOptions.key("transactional-id-prefix")
            .stringType().defaultValue("crmn-finetune").withDescription("Prefix of the Kafka sinks' transactional ids.");
    public static final ConfigOption<Integer> THREADS = ConfigOptions.key("threads").intType().defaultValue(0)
            .withDescription("OpenMP threads of the learner in all, shared by its replicas; 0 = all cores.");

    public static final ConfigOption<Integer> REPLICAS = ConfigOptions.key("replicas").intType().defaultValue(0)
            .withDescription("Copies of the network that share each training step's batch, each on a thread of its own"
                    + " with threads / replicas OpenMP threads (one step scales poorly over threads; two one-thread"
                    + " replicas train faster than one two-thread network); must divide batch-size; 0 = one per"
                    + " thread, at most batch-size / 32 (2 on two cores or more at the default batch, 1 on one core).");

    public static final List<ConfigOption<?>> ALL = List.of(BOOTSTRAP_SERVERS, LABELLED_TOPIC, DEAD_LETTERS_TOPIC,
            MODEL_UPDATES_TOPIC, GROUP_ID, STORE, MODEL, SIGNING_KEY_FILE, REQUIRE_SIGNED, MODEL_CACHE, ROUND_FRAMES, ROUND_INTERVAL,
            ROUND_STEPS, BATCH_SIZE, LEARNING_RATE, AVERAGE_DECAY, GATE_TEST, MARGIN, SIGNIFICANCE, MIN_HOLDOUT, PATIENCE, HOLDOUT_PERCENT, HOLDOUT_SIZE, HOLDOUT_MAX_USES, RESERVOIR_SIZE,
            ANCHOR, ANCHOR_IMAGES, ANCHOR_SHARE, ANCHOR_CHECK_IMAGES, MAX_FORGETTING, DISTILLATION, SHADOW, PRUNE_KEEP, CHECKPOINT_INTERVAL_MS, TRANSACTIONAL_ID_PREFIX, THREADS, REPLICAS, dev.crmn.jobs.common.DecodeOptions.MAX_FRAME_BYTES,
            dev.crmn.jobs.common.DecodeOptions.MAX_FRAME_PIXELS, dev.crmn.jobs.common.Checkpointing.CHECKPOINT_DIR);

    /** The gate {@code c} sets: {@link #GATE_TEST}, {@link #MARGIN} (the test's default unless given) and the rest. */
    public static PromotionGate gate(Configuration c) {
        var test = PromotionGate.Test.named(c.get(GATE_TEST));
        return new PromotionGate(test, c.get(SIGNIFICANCE),
                c.getOptional(MARGIN).orElse(test.defaultMargin()), c.get(MIN_HOLDOUT));
    }

    private FineTuneOptions() {
    }
}
