package dev.crmn.jobs.finetune;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.kafka.CrmnKafka;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.DecodeFunction;
import dev.crmn.jobs.common.InstanceLock;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.common.JobTopics;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.perf.CpuFastPath;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/**
 * The fine-tuning job: labelled frames from Kafka, decoded and validated (frames without a usable label go to the
 * dead letters with their reason), a {@link TrainerOperator} that fine-tunes the serving model in rounds, gates
 * candidates on held-out frames of the same stream and promotes the better ones: published to the model store and
 * announced on model-updates (exactly once), where the inference job picks them up.
 *
 * <pre>{@code
 * KafkaSource(frames-labelled) -> decode/validate (label required) -> trainer (parallelism 1) -> KafkaSink(model-updates)
 *                                         \-> KafkaSink(dead-letters)   ^ KafkaSource(model-updates)
 * }</pre>
 *
 * <p>On its first start it reads the labelled topic from the earliest offset (labelled data is precious), later
 * from its checkpointed offsets. Run it with {@code crmn finetune} or submit the job jar with this class.
 */
public final class FineTuneJob {

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(FineTuneJob.class);

    public static final String USAGE = "crmn finetune --model NAME [options]   or   flink run -c "
            + FineTuneJob.class.getName() + " target/dist/crmn-flink-job.jar --model NAME [options]\n\n"
            + "Fine-tunes the latest version of NAME in the store on the labelled topic, in rounds; promotes a candidate"
            + "\nonly if it beats the serving model on held-out frames by the margin; publishes and announces it.";

    private FineTuneJob() {
    }

    public static void main(String[] args) throws Exception {
        CpuFastPath.configure();
        JobArgs.Parsed parsed = JobArgs.parse(args, FineTuneOptions.ALL);
        if (parsed.help()) {
            System.out.println(JobArgs.help(USAGE, FineTuneOptions.ALL));
            return;
        }
        Plan plan = plan(parsed.config(), parsed.kafka());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        build(env, plan);
        env.execute(plan.jobName());
    }

    /** What is decided before the job graph is built: the model to start from and the settings of its rounds. */
    public record Plan(Configuration config, KafkaOptions kafka, ModelRef start, Manifest manifest, RoundSettings rounds) {
        public String jobName() {
            return "crmn fine-tuning (" + start.name() + ")";
        }
    }

    public static Plan plan(Configuration c, Map<String, String> kafkaProperties) throws IOException {
        String name = c.get(FineTuneOptions.MODEL);
        if (name == null || name.isBlank()) {
            throw new IllegalArgumentException("--model NAME is required (the model in --store to fine-tune)");
        }
        PromotionGate gate = FineTuneOptions.gate(c); // a mistyped --gate-test or --margin says so before any I/O
        rounds(c, name, null, gate, null); // so does every round setting out of range (RoundSettings checks them)
        KafkaOptions.refuseJobOwned(kafkaProperties);
        KafkaOptions kafka = new KafkaOptions(c.get(FineTuneOptions.BOOTSTRAP_SERVERS), kafkaProperties);
        // first: says within seconds, in one line, when no broker answers
        JobTopics.requireExisting(kafka, c, List.of(FineTuneOptions.LABELLED_TOPIC, FineTuneOptions.DEAD_LETTERS_TOPIC,
                FineTuneOptions.MODEL_UPDATES_TOPIC));
        InstanceLock.checkNoneRunning(kafka, c.get(FineTuneOptions.GROUP_ID), "fine-tuning job");
        String storeUri = ModelStore.rootUri(c.get(FineTuneOptions.STORE));
        String keyFile = c.get(FineTuneOptions.SIGNING_KEY_FILE);
        dev.crmn.connectors.store.Keyring key = dev.crmn.jobs.common.StoreTrust.key(keyFile, c.get(FineTuneOptions.REQUIRE_SIGNED),
                c.get(FineTuneOptions.STORE));
        ModelStore store = new ModelStore(new org.apache.flink.core.fs.Path(storeUri), key);
        ModelRef start = store.latest(name).orElseThrow(() -> new IOException("no version of " + name + " in " + storeUri
                + " (publish one first: crmn publish --model models/crmn-demo --store " + c.get(FineTuneOptions.STORE) + ")"));
        Manifest manifest = store.verify(start); // where it lies: the TaskManagers fetch it into their own caches
        Anchor anchor = anchor(c, manifest);
        return new Plan(c, kafka, start, manifest, rounds(c, name, SigningKeys.fingerprint(key), gate, anchor));
    }

    /** The settings of the rounds from {@code c}; each out of range is refused naming its option. */
    private static RoundSettings rounds(Configuration c, String name, String keyFingerprint, PromotionGate gate,
                                        Anchor anchor) {
        return new RoundSettings(name, ModelStore.rootUri(c.get(FineTuneOptions.STORE)),
                c.get(FineTuneOptions.SIGNING_KEY_FILE), c.get(FineTuneOptions.MODEL_CACHE),
                c.get(FineTuneOptions.ROUND_FRAMES), c.get(FineTuneOptions.ROUND_INTERVAL) * 1000,
                c.get(FineTuneOptions.ROUND_STEPS), c.get(FineTuneOptions.BATCH_SIZE), c.get(FineTuneOptions.LEARNING_RATE),
                c.get(FineTuneOptions.AVERAGE_DECAY), c.get(FineTuneOptions.HOLDOUT_PERCENT),
                c.get(FineTuneOptions.HOLDOUT_SIZE), c.get(FineTuneOptions.HOLDOUT_MAX_USES),
                c.get(FineTuneOptions.RESERVOIR_SIZE), c.get(FineTuneOptions.THREADS), c.get(FineTuneOptions.LABELLED_TOPIC),
                keyFingerprint, gate, c.get(FineTuneOptions.PATIENCE), anchor, c.get(FineTuneOptions.SHADOW),
                distillation(c, anchor), c.get(FineTuneOptions.PRUNE_KEEP), c.get(FineTuneOptions.REPLICAS));
    }

    /** {@code --distillation}, else {@link FineTuneOptions#ANCHORED_DISTILLATION} with an anchor, else 0. */
    static double distillation(Configuration c, Anchor anchor) {
        double w = c.getOptional(FineTuneOptions.DISTILLATION).orElse(anchor == null ? 0 : FineTuneOptions.ANCHORED_DISTILLATION);
        if (!(w >= 0 && w < 1)) { // checked here, not when the first round starts inside the running job
            throw new IllegalArgumentException("--distillation must be in [0, 1) (0: the labels alone), got " + w);
        }
        return w;
    }

    /** The {@code --anchor}, checked here (files there, images that decode, the model's classes), or null. */
    private static Anchor anchor(Configuration c, Manifest manifest) throws IOException {
        String paths = c.get(FineTuneOptions.ANCHOR);
        if (paths == null || paths.isBlank()) {
            return null;
        }
        List<String> files = Anchor.resolve(java.util.Arrays.stream(paths.split(",")).map(String::trim)
                .filter(p -> !p.isEmpty()).toList(), note -> LOG.info("--anchor: {}", note));
        Anchor a = new Anchor(files, c.get(FineTuneOptions.ANCHOR_IMAGES), c.get(FineTuneOptions.ANCHOR_SHARE),
                c.get(FineTuneOptions.ANCHOR_CHECK_IMAGES), c.get(FineTuneOptions.MAX_FORGETTING));
        Anchor.Images images = a.load(manifest);
        if (images.check().isEmpty() && a.checkImages() > 0) {
            LOG.warn("--anchor holds {} images: too few to hold {} out for the forgetting check (a fifth of them, at"
                    + " least {}); candidates are not checked for forgetting", images.train().size(),
                    a.checkImages(), Math.min(a.checkImages(), Anchor.MIN_CHECK_IMAGES));
        }
        return a;
    }

    /** Builds the job graph into {@code env}: {@link #labelledFrames}, then {@link #trained}. */
    public static void build(StreamExecutionEnvironment env, Plan plan) {
        SingleOutputStreamOperator<DecodedFrame> decoded = labelledFrames(env, plan);
        trained(env, plan, decoded, decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
    }

    /**
     * The environment set up for the job and its first half: labelled frames from Kafka, decoded and validated
     * (rejected ones are the result's {@link DecodeFunction#DEAD_LETTERS} side output).
     */
    public static SingleOutputStreamOperator<DecodedFrame> labelledFrames(StreamExecutionEnvironment env, Plan plan) {
        Configuration c = plan.config();
        env.setParallelism(1);
        Checkpointing.configure(env, c.get(FineTuneOptions.CHECKPOINT_INTERVAL_MS), c.get(Checkpointing.CHECKPOINT_DIR));
        env.getConfig().enableObjectReuse();
        Manifest m = plan.manifest();
        FrameDecoder decoder = new FrameDecoder(m.input().height(), m.input().width(), m.input().channels(), m.labels(),
                true, dev.crmn.jobs.common.DecodeOptions.settings(c));
        String group = c.get(FineTuneOptions.GROUP_ID);
        SingleOutputStreamOperator<DecodedFrame> decoded = env.fromSource(CrmnKafka.frameSource(plan.kafka(),
                        List.of(c.get(FineTuneOptions.LABELLED_TOPIC)), group,
                        OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST)),
                        WatermarkStrategy.noWatermarks(), "labelled frames").uid("labelled-source")
                .process(new DecodeFunction(decoder)).name("decode and validate").uid("decode");
        return decoded;
    }

    /**
     * The job's second half: the trainer over {@code frames} and the model-updates stream, its promotions announced
     * and {@code decodeDeadLetters} written, exactly once, under the graph's instance lock. {@link #build} gives it
     * {@link #labelledFrames} unchanged; a graph may put steps of its own in between.
     */
    public static void trained(StreamExecutionEnvironment env, Plan plan, DataStream<DecodedFrame> frames,
                               DataStream<DeadLetter> decodeDeadLetters) {
        Configuration c = plan.config();
        String group = c.get(FineTuneOptions.GROUP_ID);
        InstanceLock.JobLock lock = InstanceLock.JobLock.of(plan.kafka(), group, c.get(FineTuneOptions.MODEL_UPDATES_TOPIC));
        DataStream<dev.crmn.connectors.format.ModelUpdate> updates = lock.heldBy(env.fromSource(CrmnKafka.modelUpdatesSource(plan.kafka(),
                        c.get(FineTuneOptions.MODEL_UPDATES_TOPIC), group + "-model-updates"),
                WatermarkStrategy.noWatermarks(), "model-updates").uid("model-updates-source"));
        SingleOutputStreamOperator<ModelRef> promoted = frames.connect(updates.broadcast())
                .transform("fine-tune rounds", TypeInformation.of(ModelRef.class), new TrainerOperatorFactory(plan.rounds()))
                .uid("trainer");
        String prefix = c.get(FineTuneOptions.TRANSACTIONAL_ID_PREFIX);
        boolean shadow = plan.rounds().shadow();
        promoted.map(ref -> shadow ? dev.crmn.connectors.format.ModelUpdate.shadow(ref, "promoted by the fine-tuning job,"
                        + " announced as a shadow") : dev.crmn.connectors.format.ModelUpdate.serve(ref))
                .returns(TypeInformation.of(dev.crmn.connectors.format.ModelUpdate.class)).name("announce as")
                .uid("announce-as")
                .sinkTo(CrmnKafka.modelUpdateSink(plan.kafka(), c.get(FineTuneOptions.MODEL_UPDATES_TOPIC),
                        DeliveryGuarantee.EXACTLY_ONCE, prefix + "-model-updates", lock.sinkGate())).name("announcements")
                .uid("model-updates-sink");
        decodeDeadLetters.sinkTo(CrmnKafka.deadLetterSink(plan.kafka(),
                c.get(FineTuneOptions.DEAD_LETTERS_TOPIC), DeliveryGuarantee.EXACTLY_ONCE, prefix + "-dead-letters",
                lock.sinkGate()))
                .name("dead letters").uid("dead-letters-sink");
    }
}
