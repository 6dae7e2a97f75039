package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.LateLabel;
import dev.crmn.connectors.format.ModelQuality;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.kafka.CrmnKafka;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.connectors.store.Keyring;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.InstanceLock;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.common.JobTopics;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.jobs.common.StoreTrust;
import java.io.IOException;
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
 * The quality job: live accuracy per model version from predictions and their labels (in the frame's header, or
 * late on the labels topic), and automatic rollback of a version significantly worse than the one it replaced.
 *
 * <pre>{@code
 * KafkaSource(predictions) -> parse -\
 *                                     > label join (by frame id, --max-label-delay) -> tracker (by model) -> KafkaSink(model-updates): rollbacks
 * KafkaSource(labels) -----> parse -/                                      ^ KafkaSource(model-updates)  \-> KafkaSink(model-quality)
 *   unreadable records -> KafkaSink(dead-letters)
 * }</pre>
 *
 * <p>Run it with {@code crmn quality}, or submit the job jar with this class (docs/rollout.md).
 */
public final class QualityJob {

    public static final String USAGE = "crmn quality [options]   or   flink run -c " + QualityJob.class.getName()
            + " target/dist/crmn-flink-job.jar [options]\n\n"
            + "Joins predictions with their labels, keeps live accuracy per model version (model-quality topic,"
            + "\nmetrics) and rolls back a version significantly worse than the one it replaced.";

    /**
     * How long a labelled outcome waits for the other version's outcome of the same frame (serving and shadow
     * predictions of a frame are made in one batch and committed within a checkpoint or two of each other).
     */
    static final long PAIR_WINDOW_MS = 60_000;

    private QualityJob() {
    }

    public static void main(String[] args) throws Exception {
        JobArgs.Parsed parsed = JobArgs.parse(args, QualityOptions.ALL);
        if (parsed.help()) {
            System.out.println(JobArgs.help(USAGE, QualityOptions.ALL));
            return;
        }
        Plan plan = plan(parsed.config(), parsed.kafka());
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        build(env, plan);
        env.execute(plan.jobName());
    }

    /** What is decided before the job graph is built. */
    public record Plan(Configuration config, KafkaOptions kafka, StoreOptions.Location store, RollbackRule rule) {
        public String jobName() {
            return "crmn quality";
        }
    }

    public static Plan plan(Configuration c, Map<String, String> kafkaProperties) throws IOException {
        KafkaOptions.refuseJobOwned(kafkaProperties);
        KafkaOptions kafka = new KafkaOptions(c.get(QualityOptions.BOOTSTRAP_SERVERS), kafkaProperties);
        RollbackRule rule = new RollbackRule(c.get(QualityOptions.MIN_LABELLED), c.get(QualityOptions.ALPHA));
        if (c.get(QualityOptions.MAX_LABEL_DELAY) < 1 || c.get(QualityOptions.WINDOW) < 1
                || c.get(QualityOptions.REPORT_INTERVAL_MS) < 100) {
            throw new IllegalArgumentException("--max-label-delay and --window must be >= 1 s, --report-interval-ms >= 100");
        }
        JobTopics.requireExisting(kafka, c, List.of(QualityOptions.PREDICTIONS_TOPIC,
                QualityOptions.SHADOW_PREDICTIONS_TOPIC, QualityOptions.LABELS_TOPIC,
                QualityOptions.MODEL_UPDATES_TOPIC, QualityOptions.MODEL_QUALITY_TOPIC, QualityOptions.DEAD_LETTERS_TOPIC));
        InstanceLock.checkNoneRunning(kafka, c.get(QualityOptions.GROUP_ID), "quality job");
        String storeUri = ModelStore.rootUri(c.get(QualityOptions.STORE));
        String keyFile = c.get(StoreOptions.SIGNING_KEY_FILE);
        Keyring key = StoreTrust.key(keyFile, c.get(StoreOptions.REQUIRE_SIGNED), c.get(QualityOptions.STORE));
        return new Plan(c, kafka, new StoreOptions.Location(storeUri, keyFile, SigningKeys.fingerprint(key)), rule);
    }

    /** Builds the job graph into {@code env}: {@link #scored}, then {@link #tracked}. */
    public static void build(StreamExecutionEnvironment env, Plan plan) {
        Joined j = scored(env, plan);
        tracked(env, plan, j.scored(), j.deadLetters());
    }

    /** The first half's result: scored predictions, and every record that could not be read or joined. */
    public record Joined(DataStream<Scored> scored, DataStream<DeadLetter> deadLetters) {
    }

    /**
     * The environment set up for the job and its first half: predictions and late labels read, parsed and joined by
     * frame id.
     */
    public static Joined scored(StreamExecutionEnvironment env, Plan plan) {
        Configuration c = plan.config();
        env.setParallelism(1);
        Checkpointing.configure(env, c.get(QualityOptions.CHECKPOINT_INTERVAL_MS), c.get(Checkpointing.CHECKPOINT_DIR));
        String group = c.get(QualityOptions.GROUP_ID);
        OffsetsInitializer start = OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST);
        SingleOutputStreamOperator<PredictionRead> predictions = env.fromSource(CrmnKafka.frameSource(plan.kafka(),
                        List.of(c.get(QualityOptions.PREDICTIONS_TOPIC)), group, start), WatermarkStrategy.noWatermarks(),
                        "predictions").uid("predictions-source")
                .process(new RecordParser<>(r -> new PredictionRead(prediction(r), false)))
                .returns(TypeInformation.of(PredictionRead.class)).name("parse predictions").uid("parse-predictions");
        SingleOutputStreamOperator<PredictionRead> shadows = env.fromSource(CrmnKafka.frameSource(plan.kafka(),
                        List.of(c.get(QualityOptions.SHADOW_PREDICTIONS_TOPIC)), group, start),
                        WatermarkStrategy.noWatermarks(), "shadow predictions").uid("shadow-predictions-source")
                .process(new RecordParser<>(r -> new PredictionRead(prediction(r), true)))
                .returns(TypeInformation.of(PredictionRead.class)).name("parse shadow predictions")
                .uid("parse-shadow-predictions");
        SingleOutputStreamOperator<LabelRecord> labels = env.fromSource(CrmnKafka.frameSource(plan.kafka(),
                        List.of(c.get(QualityOptions.LABELS_TOPIC)), group, start), WatermarkStrategy.noWatermarks(),
                        "labels").uid("labels-source")
                .process(new RecordParser<>(r -> {
                    LateLabel l = LateLabel.parse(r.key(), r.value());
                    return new LabelRecord(l.frameId(), l.label(), r.topic(), r.partition(), r.offset());
                })).returns(TypeInformation.of(LabelRecord.class)).name("parse labels").uid("parse-labels");
        SingleOutputStreamOperator<Scored> joined = predictions.union(shadows).keyBy(r -> r.prediction().frameId())
                .connect(labels.keyBy(LabelRecord::frameId))
                .process(new LabelJoin(c.get(QualityOptions.MAX_LABEL_DELAY) * 1000, PAIR_WINDOW_MS, plan.store()))
                .returns(TypeInformation.of(Scored.class)).name("label join").uid("label-join");
        DataStream<Scored> scored = joined.keyBy(Scored::frameId).process(new ShadowPairing(PAIR_WINDOW_MS))
                .returns(TypeInformation.of(Scored.class)).name("shadow pairing").uid("shadow-pairing");
        return new Joined(scored, predictions.getSideOutput(RecordParser.DEAD_LETTERS)
                .union(shadows.getSideOutput(RecordParser.DEAD_LETTERS), labels.getSideOutput(RecordParser.DEAD_LETTERS),
                        joined.getSideOutput(RecordParser.DEAD_LETTERS)));
    }

    /** A prediction record, checked for what the job needs: a frame id, a model, a top class. */
    static Prediction prediction(dev.crmn.connectors.format.Frame r) throws IOException {
        if (r.value() == null) {
            throw new IOException("a prediction record needs a JSON value");
        }
        Prediction p = PredictionJson.fromBytes(r.value());
        if (p.frameId() == null || p.frameId().isBlank() || p.model() == null || p.model().name() == null
                || p.topK() == null || p.topK().length == 0) {
            throw new IOException("a prediction needs frame_id, model and top_k (docs/wire-format.md)");
        }
        return p;
    }

    /**
     * The job's second half: the tracker over {@code scored} and the model-updates stream; rollbacks announced, the
     * figures written to model-quality and {@code deadLetters} written, exactly once, under the instance lock.
     */
    public static void tracked(StreamExecutionEnvironment env, Plan plan, DataStream<Scored> scored,
                               DataStream<DeadLetter> deadLetters) {
        Configuration c = plan.config();
        String group = c.get(QualityOptions.GROUP_ID);
        String updatesTopic = c.get(QualityOptions.MODEL_UPDATES_TOPIC);
        InstanceLock.JobLock lock = InstanceLock.JobLock.of(plan.kafka(), group, updatesTopic);
        DataStream<ModelUpdate> updates = lock.heldBy(env.fromSource(CrmnKafka.modelUpdatesSource(plan.kafka(),
                updatesTopic, group + "-model-updates"), WatermarkStrategy.noWatermarks(), "model-updates")
                .uid("model-updates-source"));
        SingleOutputStreamOperator<ModelUpdate> rollbacks = scored.keyBy(Scored::model)
                .connect(updates.keyBy(u -> u.ref().name()))
                .process(new QualityTracker(plan.rule(), c.get(QualityOptions.SHADOW_MAX_PAIRS), c.get(QualityOptions.WINDOW) * 1000,
                        c.get(QualityOptions.REPORT_INTERVAL_MS), plan.store()))
                .returns(TypeInformation.of(ModelUpdate.class)).name("live accuracy and rollbacks").uid("tracker");
        String prefix = c.get(QualityOptions.TRANSACTIONAL_ID_PREFIX);
        rollbacks.sinkTo(CrmnKafka.modelUpdateSink(plan.kafka(), updatesTopic, DeliveryGuarantee.EXACTLY_ONCE,
                prefix + "-model-updates", lock.sinkGate())).name("rollbacks").uid("model-updates-sink");
        DataStream<ModelQuality> quality = rollbacks.getSideOutput(QualityTracker.QUALITY);
        quality.sinkTo(CrmnKafka.modelQualitySink(plan.kafka(), c.get(QualityOptions.MODEL_QUALITY_TOPIC),
                DeliveryGuarantee.EXACTLY_ONCE, prefix + "-model-quality", lock.sinkGate())).name("model quality")
                .uid("model-quality-sink");
        deadLetters.sinkTo(CrmnKafka.deadLetterSink(plan.kafka(), c.get(QualityOptions.DEAD_LETTERS_TOPIC),
                DeliveryGuarantee.EXACTLY_ONCE, prefix + "-dead-letters", lock.sinkGate()))
                .name("dead letters").uid("dead-letters-sink");
    }
}
