package dev.crmn.jobs.inference;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.kafka.CrmnKafka;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.DecodeFunction;
import dev.crmn.jobs.common.InstanceLock;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.common.JobTopics;
import dev.crmn.model.checkpoint.CheckpointException;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.infer.OnnxRuntimeNetwork;
import dev.crmn.model.infer.ServingNetwork;
import dev.crmn.model.perf.CpuFastPath;
import java.io.IOException;
import java.net.URI;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.flink.streaming.api.datastream.SingleOutputStreamOperator;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The inference job: frames from Kafka, decoded and validated in parallel (bad frames to the dead-letter
 * topic with their reason), classified in micro-batches by a {@link MicroBatchInferenceOperator} that follows
 * the model-updates topic and hot-swaps, one prediction per frame to Kafka, exactly once (transactional
 * sinks committed by checkpoints; read them with {@code isolation.level=read_committed}).
 *
 * <pre>{@code
 * KafkaSource(frames) -> decode/validate --+--> micro-batch inference --> KafkaSink(predictions)
 *                                         |      ^ broadcast                   \--> dead letters (inference-failed)
 *                                         |  KafkaSource(model-updates)
 *                                         +--> KafkaSink(dead-letters)
 * }</pre>
 *
 * <p>Run it with {@code crmn infer ...} on a local MiniCluster, or submit {@code target/dist/crmn-flink-job.jar}
 * with this class as the entry point; {@code --help} lists the options ({@link InferenceOptions}).
 */
public final class InferenceJob {

    public static final String USAGE = "crmn infer [options]   or   flink run -c " + InferenceJob.class.getName()
            + " target/dist/crmn-flink-job.jar [options]\n\nClassifies the frames topic into the predictions topic"
            + " (exactly once), dead-letters bad frames, and hot-swaps\nthe model announced on the model-updates topic.";

    private static final Logger LOG = LoggerFactory.getLogger(InferenceJob.class);

    private InferenceJob() {
    }

    /** Entry point of the job jar on a cluster. */
    public static void main(String[] args) throws Exception {
        CpuFastPath.configure();
        JobArgs.Parsed parsed = JobArgs.parse(args, InferenceOptions.ALL);
        if (parsed.help()) {
            System.out.println(JobArgs.help(USAGE, InferenceOptions.ALL));
            return;
        }
        Plan plan = plan(parsed.config(), parsed.kafka());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        build(env, plan);
        env.execute(plan.jobName());
    }

    /**
     * What is decided before the job graph is built.
     *
     * @param model    the initial model version
     * @param manifest its manifest (the decoder is configured for its input and classes)
     */
    public record Plan(Configuration config, KafkaOptions kafka, ModelRef model, Manifest manifest, int parallelism,
                       int batchSize, String keyFingerprint, boolean shadows) {
        public String jobName() {
            return "crmn inference (" + model.displayName() + ")";
        }

        public String store() {
            return storeUri(config.get(InferenceOptions.STORE));
        }
    }

    /**
     * Resolves the options: Kafka, parallelism, batch size, and the initial model (published to the store first
     * when it is a local checkpoint directory), whose manifest is read for the decoder.
     */
    public static Plan plan(Configuration c, Map<String, String> kafkaProperties) throws IOException {
        KafkaOptions.refuseJobOwned(kafkaProperties);
        KafkaOptions kafka = new KafkaOptions(c.get(InferenceOptions.BOOTSTRAP_SERVERS), kafkaProperties);
        int parallelism = c.get(InferenceOptions.PARALLELISM) > 0 ? c.get(InferenceOptions.PARALLELISM)
                : Runtime.getRuntime().availableProcessors();
        int batch = c.get(InferenceOptions.BATCH_SIZE);
        if (batch < 1) {
            throw new IllegalArgumentException("--batch-size must be >= 1, got " + batch);
        }
        int padded = (int) ServingNetwork.bucket(batch);
        if (padded != batch) {
            LOG.info("batch size {} rounded up to {}, the size the serving network computes for it", batch, padded);
        }
        if (c.get(InferenceOptions.MAX_DELAY_MS) < 0 || c.get(InferenceOptions.CHECKPOINT_INTERVAL_MS) < 10) {
            throw new IllegalArgumentException("--max-delay-ms must be >= 0 and --checkpoint-interval-ms >= 10");
        }
        startingOffsets(c); // validate early
        Path localModel = localModelDir(c.get(InferenceOptions.MODEL));
        if (localModel != null && !Files.exists(localModel)) { // said before any broker is asked
            throw new CheckpointException("--model " + c.get(InferenceOptions.MODEL) + ": no such checkpoint directory");
        }
        if (localModel != null && !Files.isRegularFile(localModel.resolve(Checkpoints.MANIFEST))) {
            throw new CheckpointException("--model " + c.get(InferenceOptions.MODEL) + ": not a checkpoint directory (no "
                    + Checkpoints.MANIFEST + "; models/crmn-demo is one)");
        }
        // an unknown engine, or cuda in a build without it (a device is for the TaskManagers to have, not the client)
        ClassifierOptions.checkBuilt(c.get(InferenceOptions.ENGINE));
        InferenceSettings.checkShadowFraction(c.get(InferenceOptions.SHADOW_FRACTION)); // before asking any broker
        // first: says within seconds, in one line, when no broker answers
        java.util.Set<String> topics = JobTopics.requireExisting(kafka, c, List.of(InferenceOptions.FRAMES_TOPIC,
                InferenceOptions.PREDICTIONS_TOPIC,
                InferenceOptions.DEAD_LETTERS_TOPIC, InferenceOptions.MODEL_UPDATES_TOPIC));
        boolean shadows = topics.contains(c.get(InferenceOptions.SHADOW_PREDICTIONS_TOPIC));
        if (!shadows) {
            LOG.warn("no topic {} at {}: shadow versions announced on {} are ignored (./crmn topics creates it)",
                    c.get(InferenceOptions.SHADOW_PREDICTIONS_TOPIC), kafka.bootstrapServers(),
                    c.get(InferenceOptions.MODEL_UPDATES_TOPIC));
        }
        InstanceLock.checkNoneRunning(kafka, c.get(InferenceOptions.GROUP_ID), "inference job");
        if (ClassifierOptions.Engine.parse(c.get(InferenceOptions.ENGINE)) == ClassifierOptions.Engine.ONNXRUNTIME
                && !OnnxRuntimeNetwork.available()) {
            throw new IllegalArgumentException("--" + OnnxRuntimeNetwork.MISSING);
        }
        dev.crmn.connectors.store.Keyring key = dev.crmn.jobs.common.StoreTrust.key(c.get(InferenceOptions.SIGNING_KEY_FILE),
                c.get(InferenceOptions.REQUIRE_SIGNED), c.get(InferenceOptions.STORE));
        ModelStore store = new ModelStore(new org.apache.flink.core.fs.Path(storeUri(c.get(InferenceOptions.STORE))), key);
        ModelRef ref = initialModel(c, kafka, store);
        Manifest manifest = store.verify(ref); // where it lies: the TaskManagers fetch it into their own caches
        return new Plan(c, kafka, ref, manifest, parallelism, padded, SigningKeys.fingerprint(key), shadows);
    }

    /** Builds the job graph into {@code env}: {@link #decodedFrames}, then {@link #classified}. */
    public static void build(StreamExecutionEnvironment env, Plan plan) {
        SingleOutputStreamOperator<DecodedFrame> decoded = decodedFrames(env, plan);
        classified(env, plan, decoded, decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
    }

    /**
     * The job's second half: {@code frames} classified in micro-batches under the model-updates stream (hot-swap),
     * predictions and dead letters ({@code decodeDeadLetters} and the inference's own) to Kafka, exactly once,
     * under the graph's instance lock. {@link #build} gives it {@link #decodedFrames} unchanged; a graph may put
     * steps of its own in between.
     */
    public static void classified(StreamExecutionEnvironment env, Plan plan, DataStream<DecodedFrame> frames,
                                  DataStream<DeadLetter> decodeDeadLetters) {
        Configuration c = plan.config();
        InstanceLock.JobLock lock = lock(plan);
        DataStream<dev.crmn.connectors.format.ModelUpdate> updates = lock.heldBy(env.fromSource(CrmnKafka.modelUpdatesSource(plan.kafka(),
                        c.get(InferenceOptions.MODEL_UPDATES_TOPIC), c.get(InferenceOptions.GROUP_ID) + "-model-updates"),
                        WatermarkStrategy.noWatermarks(), "model-updates").setParallelism(1).uid("model-updates-source"));
        InferenceSettings settings = new InferenceSettings(plan.model(), ModelLoader.Expected.of(plan.manifest()),
                plan.batchSize(), c.get(InferenceOptions.MAX_DELAY_MS), c.get(InferenceOptions.TOP_K),
                c.get(InferenceOptions.THREADS_PER_SUBTASK), c.get(InferenceOptions.SIGNING_KEY_FILE),
                c.get(InferenceOptions.MODEL_CACHE), c.get(InferenceOptions.ENGINE), plan.keyFingerprint(), plan.shadows(),
                c.get(InferenceOptions.SHADOW_FRACTION));
        SingleOutputStreamOperator<Prediction> predictions = frames
                .connect(updates.broadcast())
                .transform("micro-batch inference", TypeInformation.of(Prediction.class),
                        new MicroBatchInferenceOperatorFactory(settings))
                .uid("inference");
        sinks(plan, lock.sinkGate(), predictions, decodeDeadLetters
                .union(predictions.getSideOutput(MicroBatchInferenceOperator.DEAD_LETTERS)));
        if (plan.shadows()) {
            predictions.getSideOutput(MicroBatchInferenceOperator.SHADOW_PREDICTIONS).sinkTo(CrmnKafka.predictionSink(
                    plan.kafka(), c.get(InferenceOptions.SHADOW_PREDICTIONS_TOPIC), DeliveryGuarantee.EXACTLY_ONCE,
                    c.get(InferenceOptions.TRANSACTIONAL_ID_PREFIX) + "-shadow-predictions", lock.sinkGate()))
                    .name("shadow predictions").uid("shadow-predictions-sink");
        }
    }

    /**
     * The environment set up for the job (parallelism, checkpointing, object reuse) and its first half: frames
     * from Kafka, decoded and validated for the plan's model; rejected frames are the result's
     * {@link DecodeFunction#DEAD_LETTERS} side output.
     */
    public static SingleOutputStreamOperator<DecodedFrame> decodedFrames(StreamExecutionEnvironment env, Plan plan) {
        Configuration c = plan.config();
        env.setParallelism(plan.parallelism());
        Checkpointing.configure(env, c.get(InferenceOptions.CHECKPOINT_INTERVAL_MS), c.get(Checkpointing.CHECKPOINT_DIR));
        env.getConfig().enableObjectReuse(); // no operator here changes a record it received
        // decoded frames are handed to the inference operator within a few ms (Flink's default 100 ms output-buffer
        // timeout added up to that much to a frame's latency at moderate rates)
        env.setBufferTimeout(Math.max(1, Math.min(10, c.get(InferenceOptions.MAX_DELAY_MS) / 2)));
        Manifest m = plan.manifest();
        FrameDecoder decoder = new FrameDecoder(m.input().height(), m.input().width(), m.input().channels(), m.labels(),
                false, dev.crmn.jobs.common.DecodeOptions.settings(c));
        DataStream<Frame> frames = env.fromSource(CrmnKafka.frameSource(plan.kafka(),
                        List.of(c.get(InferenceOptions.FRAMES_TOPIC)), c.get(InferenceOptions.GROUP_ID), startingOffsets(c)),
                        WatermarkStrategy.noWatermarks(), "frames")
                .uid("frames-source");
        return frames.process(new DecodeFunction(decoder)).name("decode and validate").uid("decode");
    }

    /** The instance lock of a graph built from {@code plan}: one per graph. */
    private static InstanceLock.JobLock lock(Plan plan) {
        Configuration c = plan.config();
        return InstanceLock.JobLock.of(plan.kafka(), c.get(InferenceOptions.GROUP_ID), c.get(InferenceOptions.MODEL_UPDATES_TOPIC));
    }

    /**
     * The job's second half: predictions and dead letters to Kafka, exactly once, by sinks that pass {@code gate}
     * (the graph's {@link InstanceLock.JobLock#sinkGate}) before they create a producer.
     */
    public static void sinks(Plan plan, dev.crmn.connectors.kafka.SinkGate gate, DataStream<Prediction> predictions,
                             DataStream<DeadLetter> deadLetters) {
        Configuration c = plan.config();
        String prefix = c.get(InferenceOptions.TRANSACTIONAL_ID_PREFIX);
        predictions.sinkTo(CrmnKafka.predictionSink(plan.kafka(), c.get(InferenceOptions.PREDICTIONS_TOPIC),
                DeliveryGuarantee.EXACTLY_ONCE, prefix + "-predictions", gate)).name("predictions")
                .uid("predictions-sink");
        deadLetters.sinkTo(CrmnKafka.deadLetterSink(plan.kafka(), c.get(InferenceOptions.DEAD_LETTERS_TOPIC),
                DeliveryGuarantee.EXACTLY_ONCE, prefix + "-dead-letters", gate)).name("dead letters")
                .uid("dead-letters-sink");
    }

    static OffsetsInitializer startingOffsets(Configuration c) {
        return switch (c.get(InferenceOptions.STARTING_OFFSETS).toLowerCase(Locale.ROOT)) {
            case "committed" -> OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
            case "earliest" -> OffsetsInitializer.earliest();
            case "latest" -> OffsetsInitializer.latest();
            default -> throw new IllegalArgumentException("--starting-offsets must be committed, earliest or latest, got "
                    + c.get(InferenceOptions.STARTING_OFFSETS));
        };
    }

    /** A store location as a file system URI ({@link ModelStore#rootUri}). */
    public static String storeUri(String store) {
        return ModelStore.rootUri(store);
    }

    /** The local directory {@code --model} names (a path or a {@code file:} URI), or null (none given, another URI). */
    public static Path localModelDir(String model) {
        if (model == null) {
            return null;
        }
        return model.startsWith("file:") ? Path.of(URI.create(model)) : model.contains("://") ? null : Path.of(model);
    }

    /** The initial model: a checkpoint directory (published first), a store URI, or the latest announced ModelRef. */
    static ModelRef initialModel(Configuration c, KafkaOptions kafka, ModelStore store) throws IOException {
        String model = c.get(InferenceOptions.MODEL);
        if (model != null) {
            Path dir = localModelDir(model); // plan checked that a local one is a checkpoint directory
            ModelRef ref;
            if (dir != null && !isInStore(dir, store)) {
                ref = store.publish(dir);
                LOG.info("published {} to {} as {}", dir, store.root(), ref.uri());
            } else {
                ref = ModelStore.refAt(model.contains("://") ? model : dir.toAbsolutePath().toUri().toString());
            }
            // a version that was never announced serves from now on, and the store says so (what `crmn models` shows
            // and `crmn models prune` keeps); one with a status keeps it (a restart, a version served before)
            try {
                if (store.status(ref).isEmpty()) {
                    store.recordServing(ref, "served by the inference job, started with --model " + model);
                }
            } catch (IOException e) { // a store this client may read but not write: serving it matters more
                LOG.warn("could not record {} as serving in its store ({}); it serves all the same", ref.displayName(),
                        e.getMessage());
            }
            return ref;
        }
        Map<String, ModelRef> latest = announced(kafka, c.get(InferenceOptions.MODEL_UPDATES_TOPIC));
        String name = c.get(InferenceOptions.MODEL_NAME);
        if (name != null) {
            ModelRef r = latest.get(name);
            if (r == null) {
                throw new IOException("no ModelRef for " + name + " on " + c.get(InferenceOptions.MODEL_UPDATES_TOPIC)
                        + " (announced: " + latest.keySet() + "); give --model");
            }
            return r;
        }
        if (latest.size() != 1) {
            throw new IOException(latest.isEmpty() ? "no --model given and no ModelRef on "
                    + c.get(InferenceOptions.MODEL_UPDATES_TOPIC) + " (publish one with crmn publish --announce, or give --model)"
                    : "model-updates announces several models " + latest.keySet() + ": choose one with --model-name");
        }
        return latest.values().iterator().next();
    }

    /** Whether {@code dir} is a version directory inside the store itself (then it is referenced, not republished). */
    private static boolean isInStore(Path dir, ModelStore store) {
        try {
            Path root = Path.of(URI.create(store.root().toUri().toString()));
            return dir.toAbsolutePath().normalize().startsWith(root.toAbsolutePath().normalize());
        } catch (RuntimeException e) {
            return false;
        }
    }

    /**
     * The version each model was last announced to serve on the (compacted, one-partition) model-updates topic, read
     * to its end: the newest serve or rollback record of the model (shadow records name no serving version).
     */
    static Map<String, ModelRef> announced(KafkaOptions kafka, String topic) throws IOException {
        Properties p = kafka.toProperties();
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        Map<String, ModelRef> latest = new HashMap<>();
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = consumer.partitionsFor(topic, Duration.ofSeconds(15)).stream()
                    .map(i -> new TopicPartition(topic, i.partition())).toList();
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end = consumer.endOffsets(parts, Duration.ofSeconds(15));
            long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
            while (parts.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp)) && System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    if (r.value() == null) {
                        continue;
                    }
                    try {
                        ModelUpdate u = ModelUpdateDeserializationSchema.parse(r);
                        if (u.action().namesServingVersion()) {
                            latest.put(u.ref().name(), u.ref()); // the newest announcement (a rollback's: the older one)
                        }
                    } catch (IOException e) {
                        LOG.warn("skipping an unreadable model update at {}-{}-{}: {}", r.topic(), r.partition(),
                                r.offset(), e.getMessage());
                    }
                }
            }
        } catch (org.apache.kafka.common.errors.TimeoutException e) {
            throw new IOException("cannot read " + topic + " at " + kafka.bootstrapServers() + ": " + e.getMessage(), e);
        }
        return latest;
    }
}
