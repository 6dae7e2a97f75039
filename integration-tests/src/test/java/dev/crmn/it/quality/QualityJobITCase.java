package dev.crmn.it.quality;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.LateLabel;
import dev.crmn.connectors.format.ModelQuality;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStatus;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.it.testutil.ModelVersions;
import dev.crmn.jobs.common.DecodeFunction;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.jobs.quality.QualityJob;
import dev.crmn.jobs.quality.QualityOptions;
import dev.crmn.jobs.quality.Scored;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.testutil.TestData;
import dev.crmn.model.infer.ClassScore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.configuration.Configuration;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The quality job against a real broker: a worse version rolled back (labels in the predictions, and labels
 * arriving late on the labels topic), an equal one kept over 5,000 labelled predictions, exactly one decision
 * across a failure in the middle of it, and end to end with the inference job: a bad version announced to serve is
 * rolled back, and the inference job serves the older one again within 30 s of the decision.
 */
class QualityJobITCase {

    static final Path SHIPPED = Path.of("..", "models", "crmn-demo");
    static final Duration WAIT = Duration.ofSeconds(120);

    static KafkaFixture kafka;
    @TempDir
    static Path dir;

    @BeforeAll
    static void setUp() throws Exception {
        kafka = KafkaFixture.start();
    }

    @AfterAll
    static void tearDown() throws Exception {
        kafka.close();
    }

    static final Path EARLY = Path.of("..", "models", "crmn-demo-early");

    /** A store with crmn-demo v1 (the shipped model) and v2 (the early snapshot's weights: ~52 % against ~80 %). */
    static ModelStore store(String test) throws Exception {
        ModelStore store = new ModelStore(dir.resolve(test + "-store").toString());
        store.publish(as(test, SHIPPED, 1));
        store.publish(as(test, EARLY, 2));
        return store;
    }

    /** The checkpoint {@code source} as crmn-demo {@code version} ({@link ModelVersions#as}). */
    static Path as(String test, Path source, long version) throws IOException {
        return ModelVersions.as(dir, test, source, version);
    }

    /** The quality job's options for one test: its own topics, group and store. */
    static Configuration options(String test, Map<String, String> extra) throws IOException {
        for (String t : List.of("predictions", "shadow-predictions", "labels", "dead-letters")) {
            kafka.createTopic(test + "-" + t, 2);
        }
        kafka.createTopic(test + "-model-updates", 1, Map.of("cleanup.policy", "compact"));
        kafka.createTopic(test + "-model-quality", 1, Map.of("cleanup.policy", "compact"));
        Map<String, String> m = new HashMap<>();
        m.put(QualityOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers());
        m.put(QualityOptions.PREDICTIONS_TOPIC.key(), test + "-predictions");
        m.put(QualityOptions.SHADOW_PREDICTIONS_TOPIC.key(), test + "-shadow-predictions");
        m.put(QualityOptions.LABELS_TOPIC.key(), test + "-labels");
        m.put(QualityOptions.DEAD_LETTERS_TOPIC.key(), test + "-dead-letters");
        m.put(QualityOptions.MODEL_UPDATES_TOPIC.key(), test + "-model-updates");
        m.put(QualityOptions.MODEL_QUALITY_TOPIC.key(), test + "-model-quality");
        m.put(QualityOptions.GROUP_ID.key(), test + "-quality");
        m.put(QualityOptions.TRANSACTIONAL_ID_PREFIX.key(), test + "-quality");
        m.put(QualityOptions.STORE.key(), dir.resolve(test + "-store").toString());
        m.put(QualityOptions.CHECKPOINT_INTERVAL_MS.key(), "500");
        m.put(QualityOptions.REPORT_INTERVAL_MS.key(), "500");
        m.putAll(extra);
        return Configuration.fromMap(m);
    }

    static LocalJob start(Configuration options, java.util.function.UnaryOperator<
            org.apache.flink.streaming.api.datastream.DataStream<Scored>> hook) throws Exception {
        QualityJob.Plan plan = QualityJob.plan(options, Map.of());
        return LocalJob.start(new Configuration(), 1, env -> {
            QualityJob.Joined j = QualityJob.scored(env, plan); // the job's two halves, the test's step in between
            QualityJob.tracked(env, plan, hook.apply(j.scored()), j.deadLetters());
        }, plan.jobName());
    }

    static Prediction prediction(String frameId, long version, int predicted, Integer label) {
        return new Prediction(1, frameId, null, new Prediction.Source("frames", 0, 0),
                new ClassScore[]{new ClassScore(predicted, "c" + predicted, 0.9f)},
                new Prediction.ModelInfo("crmn-demo", version, "sha-v" + version), 32,
                new Prediction.Timings(1, 1, 2), null, label, System.currentTimeMillis());
    }

    /**
     * Writes {@code n} predictions of {@code version}, each right with probability {@code accuracy}; with the label
     * in the prediction, or ({@code late}) without it and the label on the labels topic afterwards.
     */
    static void predictions(String test, String prefix, long version, int n, double accuracy, boolean late,
                            SplittableRandom rng) throws Exception {
        List<LateLabel> labels = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            for (int i = 0; i < n; i++) {
                int label = rng.nextInt(10);
                int predicted = rng.nextDouble() < accuracy ? label : (label + 1 + rng.nextInt(9)) % 10;
                String id = prefix + i;
                p.send(new ProducerRecord<>(test + "-predictions", i % 2, null, null,
                        PredictionJson.toBytes(prediction(id, version, predicted, late ? null : label))));
                if (late) {
                    labels.add(new LateLabel(id, Integer.toString(label)));
                }
            }
            for (LateLabel l : labels) {
                p.send(new ProducerRecord<>(test + "-labels", l.frameId().getBytes(StandardCharsets.UTF_8), l.toBytes()));
            }
            p.flush();
        }
    }

    static List<ModelUpdate> rollbacks(String test, int atLeast, Duration wait) throws IOException {
        List<ModelUpdate> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.await(test + "-model-updates", atLeast, wait)) {
            ModelUpdate u = dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema.parse(r);
            if (u != null && u.action() == ModelUpdate.Action.ROLLBACK) {
                out.add(u);
            }
        }
        return out;
    }

    /** The newest model-quality record of each version. */
    static Map<Long, ModelQuality> quality(String test, int atLeast) throws IOException {
        Map<Long, ModelQuality> latest = new HashMap<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.await(test + "-model-quality", atLeast, WAIT)) {
            ModelQuality q = ModelQuality.fromBytes(r.value());
            assertThat(new String(r.key(), StandardCharsets.UTF_8)).isEqualTo("crmn-demo/v" + q.version());
            latest.put(q.version(), q);
        }
        return latest;
    }

    private void assertRolledBack(ModelStore store, String test) throws Exception {
        List<ModelUpdate> rb = rollbacks(test, 1, WAIT);
        assertThat(rb).singleElement().satisfies(u -> {
            assertThat(u.ref().version()).isEqualTo(1);
            assertThat(u.replaces()).isEqualTo(2);
            assertThat(u.reason()).contains("below v1's");
        });
        ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
        ModelStatus.Change c = store.status(v2).orElseThrow();
        assertThat(c.value()).isEqualTo(ModelStatus.ROLLED_BACK);
        assertThat(c.reason()).contains("p = ").contains("back to v1");
    }

    @Test
    void aWorseVersionIsRolledBackOnLabelsInThePredictions() throws Exception {
        String test = "headers";
        ModelStore store = store(test);
        Configuration options = options(test, Map.of()); // creates the test's topics
        SplittableRandom rng = new SplittableRandom(11);
        predictions(test, "a-", 1, 600, 0.8, false, rng);
        predictions(test, "b-", 2, 400, 0.5, false, rng);
        try (LocalJob job = start(options, s -> s)) {
            assertRolledBack(store, test);
            ModelQuality q2 = awaitQuality(test, 2, q -> q.labelled() == 400);
            assertThat(q2.status()).isEqualTo("rolled-back");
            assertThat(q2.decision().to()).isEqualTo(1);
            assertThat(q2.replaces()).isEqualTo(1);
            assertThat(q2.lastTest().labelled()).isEqualTo(200);
            ModelQuality q1 = awaitQuality(test, 1, q -> q.labelled() == 600);
            assertThat(q1.status()).isEqualTo("serving");
            assertThat(q1.accuracy()).isBetween(0.75, 0.85);
        }
    }

    @Test
    void aWorseVersionIsRolledBackOnLabelsArrivingLateAndBadRecordsAreDeadLetters() throws Exception {
        String test = "late";
        ModelStore store = store(test);
        Configuration options = options(test, Map.of()); // creates the test's topics
        SplittableRandom rng = new SplittableRandom(12);
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            p.send(new ProducerRecord<>(test + "-predictions", 0, null, null, "not json".getBytes(StandardCharsets.UTF_8)));
            p.send(new ProducerRecord<>(test + "-labels", 0, null, "x".getBytes(StandardCharsets.UTF_8),
                    "{\"frame_id\": \"x\"}".getBytes(StandardCharsets.UTF_8)));
            p.flush();
        }
        predictions(test, "a-", 1, 600, 0.8, true, rng);
        predictions(test, "b-", 2, 400, 0.5, true, rng);
        try (LocalJob job = start(options, s -> s)) {
            assertRolledBack(store, test);
            ModelQuality q1 = awaitQuality(test, 1, q -> q.labelled() == 600);
            assertThat(q1.predictions()).isEqualTo(600);
            var dead = kafka.await(test + "-dead-letters", 2, WAIT);
            assertThat(dead).hasSize(2).allSatisfy(r -> assertThat(new String(r.headers().lastHeader("error-reason")
                    .value(), StandardCharsets.UTF_8)).isEqualTo("bad-record"));
        }
    }

    @Test
    void anEqualVersionIsNotRolledBackOverFiveThousandLabelledPredictions() throws Exception {
        String test = "equal";
        ModelStore store = store(test);
        Configuration options = options(test, Map.of()); // creates the test's topics
        SplittableRandom rng = new SplittableRandom(13);
        predictions(test, "a-", 1, 2000, 0.8, false, rng);
        predictions(test, "b-", 2, 5000, 0.8, false, rng);
        try (LocalJob job = start(options, s -> s)) {
            ModelQuality q2 = awaitQuality(test, 2, q -> q.labelled() == 5000);
            assertThat(q2.decision()).isNull();
            assertThat(q2.status()).isEqualTo("serving");
            assertThat(q2.lastTest().look()).isEqualTo(4);
            assertThat(q2.lastTest().pValue()).isGreaterThan(q2.lastTest().alpha());
            assertThat(store.status(store.find("crmn-demo", 2).orElseThrow())).isEmpty();
        }
        assertThat(rollbacks(test, 0, Duration.ofSeconds(2))).isEmpty();
    }

    /**
     * {@code crmn quality} as a user runs it: on a broker with predictions of two versions, for a while, then its
     * {@code --json} document (each version's figures and the decisions); run again, it resumes from its savepoint
     * and counts nothing twice.
     */
    @Test
    void crmnQualityPrintsEachVersionsFiguresAndItsDecisionsAndResumesWithoutCountingTwice() throws Exception {
        String test = "cli";
        store(test);
        Configuration options = options(test, Map.of());
        SplittableRandom rng = new SplittableRandom(15);
        predictions(test, "a-", 1, 600, 0.8, false, rng);
        predictions(test, "b-", 2, 300, 0.5, true, rng);
        List<String> args = new ArrayList<>(List.of("quality", "--duration", "25", "--json", "--checkpoint-dir",
                dir.resolve(test + "-checkpoints").toString(), "--report-interval-ms", "1000"));
        for (var e : options.toMap().entrySet()) {
            if (!e.getKey().equals(QualityOptions.REPORT_INTERVAL_MS.key())) {
                args.add("--" + e.getKey());
                args.add(e.getValue());
            }
        }
        dev.crmn.jobs.testutil.Cli.Run run = dev.crmn.jobs.testutil.Cli.run(args.toArray(new String[0]));
        assertThat(run.code()).as(run.err()).isZero();
        var versions = run.json().get("versions");
        assertThat(versions).hasSize(2);
        assertThat(version(versions, 1).get("labelled").asLong()).isEqualTo(600);
        assertThat(version(versions, 2).get("labelled").asLong()).as("late labels").isEqualTo(300);
        assertThat(version(versions, 2).get("status").asText()).isEqualTo("rolled-back");
        assertThat(run.json().get("decisions")).singleElement().satisfies(d ->
                assertThat(d.get("decision").get("action").asText()).isEqualTo("rollback"));

        predictions(test, "c-", 1, 100, 0.8, false, rng); // 100 more of v1 while it was stopped
        dev.crmn.jobs.testutil.Cli.Run again = dev.crmn.jobs.testutil.Cli.run(args.toArray(new String[0]));
        assertThat(again.code()).as(again.err()).isZero();
        var v1 = version(again.json().get("versions"), 1);
        assertThat(v1.get("labelled").asLong()).as("600 counted before, 100 new: none twice").isEqualTo(700);
        assertThat(again.json().get("decisions")).as("decided before: not again").isEmpty();
        assertThat(rollbacks(test, 1, Duration.ofSeconds(5))).hasSize(1);
    }

    private static com.fasterxml.jackson.databind.JsonNode version(com.fasterxml.jackson.databind.JsonNode versions, long v) {
        for (var n : versions) {
            if (n.get("version").asLong() == v) {
                return n;
            }
        }
        throw new AssertionError("no v" + v + " in " + versions);
    }

    static final AtomicBoolean FAILED = new AtomicBoolean();

    @Test
    void aFailureInTheMiddleOfADecisionLeavesExactlyOne() throws Exception {
        String test = "failure";
        ModelStore store = store(test);
        Configuration options = options(test, Map.of()); // creates the test's topics
        SplittableRandom rng = new SplittableRandom(14);
        predictions(test, "a-", 1, 600, 0.8, false, rng);
        predictions(test, "b-", 2, 1000, 0.5, false, rng);
        AtomicInteger v2Seen = new AtomicInteger();
        try (LocalJob job = start(options, s -> s.map(x -> {
            // the decision is made at v2's 200th labelled prediction; fail shortly after it, once, before the
            // checkpoint holding it can complete
            if (x.version() == 2 && v2Seen.incrementAndGet() == 230 && FAILED.compareAndSet(false, true)) {
                throw new IllegalStateException("injected failure after the decision");
            }
            return x;
        }).returns(Scored.class))) {
            ModelQuality q2 = awaitQuality(test, 2, q -> q.labelled() == 1000);
            assertThat(q2.status()).isEqualTo("rolled-back");
            assertThat(FAILED).isTrue();
        }
        assertRolledBack(store, test);
        assertThat(store.statusHistory(store.find("crmn-demo", 2).orElseThrow())).as("recorded once").hasSize(1);
    }

    /** The inference job of an end-to-end test: serving {@code first} (a checkpoint directory) on {@code test}'s topics. */
    static InferenceJob.Plan inference(String test, Path first) throws Exception {
        kafka.createTopic(test + "-frames", 2);
        Map<String, String> im = new HashMap<>();
        im.put(InferenceOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers());
        im.put(InferenceOptions.FRAMES_TOPIC.key(), test + "-frames");
        im.put(InferenceOptions.PREDICTIONS_TOPIC.key(), test + "-predictions");
        im.put(InferenceOptions.SHADOW_PREDICTIONS_TOPIC.key(), test + "-shadow-predictions");
        im.put(InferenceOptions.DEAD_LETTERS_TOPIC.key(), test + "-dead-letters");
        im.put(InferenceOptions.MODEL_UPDATES_TOPIC.key(), test + "-model-updates");
        im.put(InferenceOptions.GROUP_ID.key(), test + "-inference");
        im.put(InferenceOptions.TRANSACTIONAL_ID_PREFIX.key(), test + "-inference");
        im.put(InferenceOptions.STORE.key(), dir.resolve(test + "-store").toString());
        im.put(InferenceOptions.MODEL_CACHE.key(), dir.resolve(test + "-cache").toString());
        im.put(InferenceOptions.MODEL.key(), first.toString());
        im.put(InferenceOptions.PARALLELISM.key(), "1");
        im.put(InferenceOptions.CHECKPOINT_INTERVAL_MS.key(), "500");
        im.put(InferenceOptions.BATCH_SIZE.key(), "32");
        im.put(InferenceOptions.MAX_DELAY_MS.key(), "20");
        return InferenceJob.plan(Configuration.fromMap(im), Map.of());
    }

    static LocalJob run(InferenceJob.Plan plan) throws Exception {
        return LocalJob.start(new Configuration(), 1, env -> {
            var decoded = InferenceJob.decodedFrames(env, plan);
            InferenceJob.classified(env, plan, decoded, decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
        }, plan.jobName());
    }

    /** Set by a test: the inference job's next frame fails its task, once (Flink restores it). */
    static final AtomicBoolean FAIL_INFERENCE = new AtomicBoolean();

    /** {@link #run}, with a step between the job's halves that fails the task once when {@link #FAIL_INFERENCE} is set. */
    static LocalJob runFailingOnce(InferenceJob.Plan plan) throws Exception {
        return LocalJob.start(new Configuration(), 1, env -> {
            var decoded = InferenceJob.decodedFrames(env, plan);
            var failing = decoded.map(f -> {
                if (FAIL_INFERENCE.compareAndSet(true, false)) {
                    throw new IllegalStateException("injected failure of the inference job during the rollback");
                }
                return f;
            }).returns(dev.crmn.connectors.format.DecodedFrame.class).name("fail once").uid("fail-once");
            InferenceJob.classified(env, plan, failing, decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
        }, plan.jobName());
    }

    /** Labelled test frames {@code f-<i>} to {@code test}'s frames topic at ~500/s until {@code stop}; counts them. */
    static Thread frames(String test, AtomicBoolean stop, AtomicInteger sent) throws IOException {
        ImageSet images = ImageSet.load(List.of(TestData.testBatch()), 1000);
        return new Thread(() -> {
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                for (int i = 0; !stop.get(); i++) {
                    int img = i % images.size();
                    var rec = FrameRecords.record(test + "-frames", null, ImageBytes.png(images.image(img)),
                            ContentType.png(), "f-" + i, System.currentTimeMillis(), Integer.toString(images.label(img)));
                    p.send(new ProducerRecord<>(test + "-frames", i % 2, null, rec.key(), rec.value(), rec.headers()));
                    sent.incrementAndGet();
                    if (i % 20 == 19) {
                        p.flush();
                        Thread.sleep(40); // pacing: ~500 frames/s
                    }
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        }, "frames");
    }

    static List<Prediction> committed(String topic, int atLeast) throws IOException {
        List<Prediction> preds = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.await(topic, atLeast, WAIT)) {
            preds.add(PredictionJson.fromBytes(r.value()));
        }
        return preds;
    }

    /**
     * End to end: the inference job serves v1 on labelled frames; v2 (much worse) is announced to serve; the
     * quality job rolls it back; the inference job serves v1 again, every prediction after the decision's
     * transaction from v1 within 30 s. {@code failing}: the inference job's task fails once just after the decision
     * (before or after it swapped back): still one decision, every frame predicted once, v1 served after it.
     */
    @org.junit.jupiter.params.ParameterizedTest(name = "inference job failing after the decision: {0}")
    @org.junit.jupiter.params.provider.ValueSource(booleans = {false, true})
    void aBadVersionAnnouncedToServeIsRolledBackInTheRunningInferenceJob(boolean failing) throws Exception {
        String test = failing ? "e2e-failing" : "e2e";
        ModelStore store = store(test);
        Configuration quality = options(test, Map.of());
        InferenceJob.Plan plan = inference(test, SHIPPED);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger sent = new AtomicInteger();
        Thread producer = frames(test, stop, sent);
        try (LocalJob inference = failing ? runFailingOnce(plan) : run(plan); LocalJob qualityJob = start(quality, s -> s)) {
            producer.start();
            awaitQuality(test, 1, q -> q.labelled() >= 600); // v1 measured
            ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                p.send(ModelRefSerializationSchema.record(test + "-model-updates", v2)).get();
            }
            ModelQuality decided = awaitQuality(test, 2, q -> q.decision() != null);
            assertThat(decided.decision().action()).isEqualTo("rollback");
            FAIL_INFERENCE.set(failing);
            long decidedAt = decided.decision().at();
            ModelQuality after = awaitQuality(test, 1, q -> q.updatedAt() > decidedAt + 35_000);
            assertThat(FAIL_INFERENCE).as("the injected failure happened").isFalse();
            assertThat(after.status()).isEqualTo("serving");
            stop.set(true);
            producer.join();
            List<Prediction> preds = committed(test + "-predictions", sent.get());
            assertThat(preds.stream().map(Prediction::frameId).distinct().count()).as("every frame predicted once")
                    .isEqualTo(preds.size()).isEqualTo(sent.get());
            assertThat(rollbacks(test, 1, Duration.ofSeconds(5))).as("one decision").hasSize(1);
            long lastV2 = preds.stream().filter(p -> p.model().version() == 2).mapToLong(Prediction::producedAt).max()
                    .orElseThrow();
            System.out.printf("QualityJobITCase e2e: v2 served %d predictions; decided at %d labelled (%s); the last v2"
                            + " prediction %d ms after the decision%n", preds.stream().filter(p -> p.model().version() == 2)
                            .count(), decided.lastTest().labelled(), decided.decision().reason(), lastV2 - decidedAt);
            assertThat(lastV2 - decidedAt).as("every prediction 30 s after the decision from v1").isLessThan(30_000);
            assertThat(preds.stream().filter(p -> p.producedAt() > decidedAt + 30_000)).isNotEmpty()
                    .allSatisfy(p -> assertThat(p.model().version()).isEqualTo(1));
            assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.ROLLED_BACK);
            ModelRef v1 = store.find("crmn-demo", 1).orElseThrow();
            List<ModelStatus.Change> v1History = store.statusHistory(v1); // v2 was announced by hand: no record of it
            assertThat(v1History).extracting(ModelStatus.Change::value).containsExactly(ModelStatus.SERVING,
                    ModelStatus.SERVING);
            assertThat(v1History.get(0).reason()).as("served from the job's first start").contains("inference job");
            assertThat(v1History.get(1).reason()).contains("serving again: v2 rolled back");
        } finally {
            stop.set(true);
            producer.join();
        }
    }

    /**
     * Shadows end to end: serving the shipped model (~80 %), the early snapshot (~52 %) announced as a shadow is
     * scored on the same frames, rejected on its paired test, and never appears in predictions.
     */
    @Test
    void aWorseShadowIsRejectedWithoutServingOnePrediction() throws Exception {
        String test = "shadow-worse";
        ModelStore store = store(test);
        Configuration quality = options(test, Map.of());
        InferenceJob.Plan plan = inference(test, SHIPPED);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger sent = new AtomicInteger();
        Thread producer = frames(test, stop, sent);
        try (LocalJob inference = run(plan); LocalJob qualityJob = start(quality, s -> s)) {
            producer.start();
            awaitQuality(test, 1, q -> q.labelled() >= 200);
            ModelRef v2 = store.find("crmn-demo", 2).orElseThrow();
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                p.send(ModelRefSerializationSchema.record(test + "-model-updates", ModelUpdate.shadow(v2, "test"))).get();
            }
            ModelQuality decided = awaitQuality(test, 2, q -> q.decision() != null);
            assertThat(decided.decision().action()).isEqualTo("reject");
            assertThat(decided.status()).isEqualTo("rejected");
            assertThat(decided.paired().servingOnlyCorrect()).isGreaterThan(decided.paired().shadowOnlyCorrect());
            System.out.printf("QualityJobITCase shadow rejected: %s%n", decided.decision().reason());
            ModelQuality later = awaitQuality(test, 1, q -> q.updatedAt() > decided.decision().at() + 5_000);
            assertThat(later.status()).isEqualTo("serving");
            stop.set(true);
            producer.join();
            List<Prediction> preds = committed(test + "-predictions", sent.get());
            assertThat(preds).as("a rejected shadow never serves").allMatch(p -> p.model().version() == 1);
            List<Prediction> shadows = committed(test + "-shadow-predictions", 200);
            assertThat(shadows).isNotEmpty().allMatch(p -> p.model().version() == 2);
            long lastShadow = shadows.stream().mapToLong(Prediction::producedAt).max().orElseThrow();
            assertThat(lastShadow - decided.decision().at()).as("no longer scored after the rejection").isLessThan(30_000);
            assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.REJECTED);
        } finally {
            stop.set(true);
            producer.join();
        }
    }

    /**
     * Serving the early snapshot (~52 %), the shipped model announced as a shadow (~80 %) is served on its paired
     * test: the inference job swaps to it (it was loaded already), and the store records it serving.
     */
    @Test
    void aBetterShadowIsServed() throws Exception {
        String test = "shadow-better";
        ModelStore store = new ModelStore(dir.resolve(test + "-store").toString());
        Path early = as(test, EARLY, 1);
        store.publish(early);
        ModelRef v2 = store.publish(as(test, SHIPPED, 2));
        Configuration quality = options(test, Map.of());
        InferenceJob.Plan plan = inference(test, early);
        AtomicBoolean stop = new AtomicBoolean();
        AtomicInteger sent = new AtomicInteger();
        Thread producer = frames(test, stop, sent);
        try (LocalJob inference = run(plan); LocalJob qualityJob = start(quality, s -> s)) {
            producer.start();
            awaitQuality(test, 1, q -> q.labelled() >= 200);
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                p.send(ModelRefSerializationSchema.record(test + "-model-updates", ModelUpdate.shadow(v2, "test"))).get();
            }
            ModelQuality decided = awaitQuality(test, 2, q -> q.decision() != null);
            assertThat(decided.decision().action()).isEqualTo("serve");
            System.out.printf("QualityJobITCase shadow served: %s%n", decided.decision().reason());
            ModelQuality serving = awaitQuality(test, 2, q -> "serving".equals(q.status()) && q.predictions() > 500);
            assertThat(serving.replaces()).isEqualTo(1);
            assertThat(store.status(v2).orElseThrow().value()).isEqualTo(ModelStatus.SERVING);
            stop.set(true);
            producer.join();
            List<Prediction> preds = committed(test + "-predictions", sent.get());
            long firstServed = preds.stream().filter(p -> p.model().version() == 2).mapToLong(Prediction::producedAt)
                    .min().orElseThrow();
            assertThat(firstServed - decided.decision().at()).as("served within 30 s of the decision").isLessThan(30_000);
        } finally {
            stop.set(true);
            producer.join();
        }
    }

    /** Waits for a model-quality record of {@code version} that satisfies {@code until}; returns it. */
    static ModelQuality awaitQuality(String test, long version, java.util.function.Predicate<ModelQuality> until)
            throws Exception {
        long deadline = System.nanoTime() + WAIT.toNanos();
        try (var consumer = new org.apache.kafka.clients.consumer.KafkaConsumer<byte[], byte[]>(consumerProps())) {
            consumer.assign(List.of(new org.apache.kafka.common.TopicPartition(test + "-model-quality", 0)));
            consumer.seekToBeginning(consumer.assignment());
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(200))) {
                    ModelQuality q = ModelQuality.fromBytes(r.value());
                    if (q.version() == version && until.test(q)) {
                        return q;
                    }
                }
            }
        }
        throw new AssertionError("no model-quality record of v" + version + " as expected within " + WAIT);
    }

    static java.util.Properties consumerProps() {
        java.util.Properties p = new java.util.Properties();
        p.put("bootstrap.servers", kafka.bootstrapServers());
        p.put("isolation.level", "read_committed");
        p.put("key.deserializer", org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
        p.put("value.deserializer", org.apache.kafka.common.serialization.ByteArrayDeserializer.class.getName());
        p.put("group.id", "quality-reader-" + java.util.UUID.randomUUID());
        p.put("enable.auto.commit", "false");
        return p;
    }
}
