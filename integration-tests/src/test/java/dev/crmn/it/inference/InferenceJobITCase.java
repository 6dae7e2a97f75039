package dev.crmn.it.inference;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.testutil.Images;
import dev.crmn.it.testutil.InMemoryMetrics;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.jobs.common.DecodeFunction;
import dev.crmn.jobs.common.Metrics;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.infer.ClassScore;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.testutil.TestData;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.UnaryOperator;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.state.CheckpointListener;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The inference job end to end: a real broker, a Flink MiniCluster, the shipped model. Exactly one committed
 * prediction per frame, equal to the offline classifier; hot-swap mid-stream; refused swaps; bad input; a task
 * failure after a completed checkpoint.
 */
class InferenceJobITCase {

    static final Path SHIPPED = Path.of("..", "models", "crmn-demo");
    static final Duration WAIT = Duration.ofSeconds(120);

    static KafkaFixture kafka;
    @TempDir
    static Path dir;
    static ImageSet test;
    static Path v2;

    @BeforeAll
    static void setUp() throws Exception {
        kafka = KafkaFixture.start();
        test = ImageSet.load(List.of(TestData.testBatch()), 1200);
        // version 2: the shipped model fine-tuned for a few steps (same architecture and classes, other weights)
        Checkpoints.Loaded base = Checkpoints.load(SHIPPED, true);
        ImageSet more = ImageSet.load(List.of(TestData.cifar10().resolve("data_batch_3.bin")), 256);
        try (FineTuning ft = FineTuning.start(base.manifest(), base.network(), more,
                FineTuneSettings.builder().steps(3).batchSize(32).build())) {
            ft.run(3, () -> false);
            try (FineTuning.Candidate c = ft.finish(null, Map.of())) {
                v2 = dir.resolve("crmn-demo-v2");
                Checkpoints.write(v2, c.network(), c.manifest(2));
            }
        }
    }

    @org.junit.jupiter.api.BeforeEach
    void freshMetrics() {
        InMemoryMetrics.clear();
    }

    @AfterAll
    static void tearDown() throws Exception {
        kafka.close();
    }

    /** Options of one test's job: its own topics, group and store. */
    static Configuration options(String test, Map<String, String> extra) throws IOException {
        for (String t : List.of("frames", "predictions", "dead-letters")) {
            kafka.createTopic(test + "-" + t, 2);
        }
        kafka.createTopic(test + "-model-updates", 1, Map.of("cleanup.policy", "compact"));
        Map<String, String> m = new HashMap<>();
        m.put(InferenceOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers());
        m.put(InferenceOptions.FRAMES_TOPIC.key(), test + "-frames");
        m.put(InferenceOptions.PREDICTIONS_TOPIC.key(), test + "-predictions");
        m.put(InferenceOptions.DEAD_LETTERS_TOPIC.key(), test + "-dead-letters");
        m.put(InferenceOptions.MODEL_UPDATES_TOPIC.key(), test + "-model-updates");
        m.put(InferenceOptions.GROUP_ID.key(), test);
        m.put(InferenceOptions.TRANSACTIONAL_ID_PREFIX.key(), test);
        m.put(InferenceOptions.STORE.key(), dir.resolve(test + "-store").toString());
        m.put(InferenceOptions.MODEL_CACHE.key(), dir.resolve(test + "-cache").toString());
        m.put(InferenceOptions.MODEL.key(), SHIPPED.toString());
        m.put(InferenceOptions.PARALLELISM.key(), "2");
        m.put(InferenceOptions.CHECKPOINT_INTERVAL_MS.key(), "500");
        m.put(InferenceOptions.BATCH_SIZE.key(), "32");
        m.put(InferenceOptions.MAX_DELAY_MS.key(), "20");
        m.putAll(extra);
        return Configuration.fromMap(m);
    }

    static LocalJob start(Configuration options, Configuration flink, UnaryOperator<DataStream<DecodedFrame>> hook)
            throws Exception {
        InferenceJob.Plan plan = InferenceJob.plan(options, Map.of());
        Configuration f = InMemoryMetrics.config();
        f.addAll(flink);
        return LocalJob.start(f, plan.parallelism(), env -> {
            var decoded = InferenceJob.decodedFrames(env, plan); // the job's two halves, the test's step in between
            InferenceJob.classified(env, plan, hook.apply(decoded), decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
        }, plan.jobName());
    }

    /**
     * Sends frames [from, to) as labelled PNG frames with frame ids {@code <prefix><i>}, alternating between the two
     * partitions; frame i is test image {@code i % test.size()}.
     */
    static void send(String topic, int from, int to, String prefix) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            for (int i = from; i < to; i++) {
                int img = i % test.size();
                var rec = FrameRecords.record(topic, null, ImageBytes.png(test.image(img)), ContentType.png(), prefix + i,
                        System.currentTimeMillis(), Integer.toString(test.label(img)));
                p.send(new org.apache.kafka.clients.producer.ProducerRecord<>(topic, i % 2, null, rec.key(), rec.value(),
                        rec.headers()));
            }
            p.flush();
        }
    }

    static void announce(String topic, ModelRef ref) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            p.send(ModelRefSerializationSchema.record(topic, ref)).get();
        }
    }

    static List<Prediction> predictions(List<ConsumerRecord<byte[], byte[]>> records) throws IOException {
        List<Prediction> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            out.add(PredictionJson.fromBytes(r.value()));
        }
        return out;
    }

    /** Waits (at most {@link #WAIT}) until the inference operators' {@code metric} sums to {@code atLeast}. */
    static void awaitMetric(String metric, long atLeast, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (InMemoryMetrics.sum("micro-batch inference", metric) < atLeast && System.nanoTime() < deadline) {
            Thread.sleep(50); // polling a metric with a deadline
        }
        assertThat(InMemoryMetrics.sum("micro-batch inference", metric)).as(what).isGreaterThanOrEqualTo(atLeast);
    }

    static void assertExactlyOnePerFrame(List<Prediction> preds, int n, String prefix) {
        Set<String> ids = new HashSet<>();
        for (Prediction p : preds) {
            assertThat(ids.add(p.frameId())).as("duplicate prediction for %s", p.frameId()).isTrue();
        }
        assertThat(preds).hasSize(n);
        for (int i = 0; i < n; i++) {
            assertThat(ids).contains(prefix + i);
        }
    }

    @Test
    void aJobStoppedAndStartedAgainResumesWhereItStoppedWithoutRepeatingOrLosingAFrame() throws Exception {
        Configuration o = options("resume", Map.of());
        InferenceJob.Plan plan = InferenceJob.plan(o, Map.of());
        Path savepoints = dir.resolve("resume-savepoints");
        java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
        AtomicBoolean sending = new AtomicBoolean(true);
        java.util.concurrent.CompletableFuture<Void> producer = java.util.concurrent.CompletableFuture.runAsync(() -> {
            try {
                while (sending.get()) { // frames keep coming while the job stops and starts again
                    int from = sent.get();
                    send("resume-frames", from, from + 10, "r-");
                    sent.addAndGet(10);
                    Thread.sleep(100);
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        try {
            try (LocalJob first = LocalJob.startResumable(InMemoryMetrics.config(), 2,
                    env -> InferenceJob.build(env, plan), plan.jobName(), savepoints, false)) {
                assertThat(first.resumedFrom()).isEmpty();
                kafka.await("resume-predictions", 100, WAIT);
            } // stops with a savepoint while frames arrive
            assertThat(LocalJob.newestSavepoint(savepoints)).as("the stop left a savepoint").isPresent();
            int sentAtStop = sent.get();
            try (LocalJob second = LocalJob.startResumable(InMemoryMetrics.config(), 2,
                    env -> InferenceJob.build(env, plan), plan.jobName(), savepoints, false)) {
                assertThat(second.resumedFrom()).isPresent();
                kafka.await("resume-predictions", sentAtStop + 100, WAIT); // committed: it has checkpointed
                assertThat(LocalJob.newestSavepoint(savepoints)).as("the savepoint it resumed from is gone once a"
                        + " checkpoint of its own subsumed it: a later kill -9 is not resumed from it").isEmpty();
                sending.set(false);
                producer.get();
                int n = sent.get();
                assertExactlyOnePerFrame(predictions(kafka.await("resume-predictions", n, WAIT)), n, "r-");
            }
            try (var left = java.nio.file.Files.list(savepoints)) {
                assertThat(left.toList()).as("only the newest savepoint is kept").hasSize(1);
            }
        } finally {
            sending.set(false);
        }
    }

    @Test
    void aSecondCopyWithTheSameGroupRefusesToStartWhileTheFirstRuns() throws Exception {
        Configuration o = options("twice", Map.of());
        try (LocalJob first = start(o, new Configuration(), s -> s)) {
            send("twice-frames", 0, 10, "t-");
            kafka.await("twice-predictions", 10, WAIT); // the first copy runs (and holds its group's membership)
            java.io.IOException refused = dev.crmn.it.testutil.SecondCopy.awaitRefusal(() -> InferenceJob.plan(o, Map.of()), WAIT);
            assertThat(refused).as("a second copy is refused while the first runs").isNotNull();
            assertThat(refused.getMessage()).contains("another inference job with --group-id twice is running",
                    "--transactional-id-prefix");
            Configuration own = new Configuration(o);
            own.set(InferenceOptions.GROUP_ID, "twice-2");
            own.set(InferenceOptions.TRANSACTIONAL_ID_PREFIX, "twice-2");
            assertThat(InferenceJob.plan(own, Map.of()).model().version()).as("a copy with its own group may start").isEqualTo(1);
        }
        assertThat(InferenceJob.plan(o, Map.of()).model().version()).as("after the first copy stopped").isEqualTo(1);
        assertThat(Thread.getAllStackTraces().keySet()).noneMatch(t -> t.isAlive() && t.getName().startsWith("crmn-instance-lock"));
    }

    @Test
    void ofTwoCopiesThatPassedTheCheckTogetherTheLaterStopsAndTheFirstPredictsEveryFrameOnce() throws Exception {
        Configuration o = options("together", Map.of());
        // both plans pass the check before either job runs: what two terminals started at the same moment get
        InferenceJob.Plan firstPlan = InferenceJob.plan(o, Map.of());
        InferenceJob.Plan secondPlan = InferenceJob.plan(o, Map.of());
        try (LocalJob first = LocalJob.start(InMemoryMetrics.config(), 2,
                env -> InferenceJob.build(env, firstPlan), firstPlan.jobName())) {
            send("together-frames", 0, 10, "g-");
            kafka.await("together-predictions", 10, WAIT); // the first copy runs and holds the lock
            try (LocalJob second = LocalJob.start(new Configuration(), 2,
                    env -> InferenceJob.build(env, secondPlan), secondPlan.jobName())) {
                java.util.concurrent.ExecutionException failed = org.assertj.core.api.Assertions.catchThrowableOfType(
                        java.util.concurrent.ExecutionException.class,
                        () -> second.client().getJobExecutionResult().get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS));
                assertThat(failed).as("the second copy fails").isNotNull();
                assertThat(org.apache.flink.util.ExceptionUtils.stringifyException(failed))
                        .contains("another copy of this job with --group-id together is running");
            }
            // the refused copy's sinks waited for its lock and created no producer: none fenced the running copy's
            assertThat(InMemoryMetrics.gauges("numRestarts")).as("the running copy never restarted").isNotEmpty()
                    .allSatisfy(v -> assertThat(((Number) v).longValue()).isZero());
            send("together-frames", 10, 30, "g-");
            int n = 30;
            assertExactlyOnePerFrame(predictions(kafka.await("together-predictions", n, WAIT)), n, "g-");
        }
    }

    @Test
    void aRunnerThatTookTheLockFirstRunsItsJobAsTheOnlyMemberAndALaterCopyIsRefusedBeforeItsJobStarts() throws Exception {
        Configuration o = options("ahead", Map.of());
        InferenceJob.Plan plan = InferenceJob.plan(o, Map.of());
        InferenceJob.Plan later = InferenceJob.plan(o, Map.of()); // passed the check too: the race crmn infer closes
        try (AutoCloseable lock = dev.crmn.jobs.common.InstanceLock.acquireHere(plan.kafka(), "ahead", "ahead-model-updates",
                "inference job"); LocalJob job = LocalJob.start(InMemoryMetrics.config(), 2,
                        env -> InferenceJob.build(env, plan), plan.jobName())) {
            send("ahead-frames", 0, 10, "a-");
            kafka.await("ahead-predictions", 10, WAIT);
            try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
                assertThat(admin.describeConsumerGroups(List.of("ahead-instance")).all().get().get("ahead-instance").members())
                        .as("the job's lock subtask left the lock to this process's holder").hasSize(1);
            }
            java.io.IOException refused = org.assertj.core.api.Assertions.catchThrowableOfType(java.io.IOException.class,
                    () -> dev.crmn.jobs.common.InstanceLock.acquireHere(later.kafka(), "ahead", "ahead-model-updates",
                            "inference job"));
            assertThat(refused).as("the later copy is refused before its job starts").isNotNull();
            assertThat(refused.getMessage()).contains("another inference job with --group-id ahead is running");
            send("ahead-frames", 10, 20, "a-");
            assertExactlyOnePerFrame(predictions(kafka.await("ahead-predictions", 20, WAIT)), 20, "a-");
        }
        try (AutoCloseable again = dev.crmn.jobs.common.InstanceLock.acquireHere(plan.kafka(), "ahead", "ahead-model-updates",
                "inference job")) {
            assertThat(again).as("free again once the runner closed its lock").isNotNull();
        }
    }

    @Test
    void aJobThatLosesItsInstanceLockFailsItsTaskTakesTheLockAgainAndStillPredictsEveryFrameOnce() throws Exception {
        Configuration o = options("lost", Map.of());
        InferenceJob.Plan plan = InferenceJob.plan(o, Map.of());
        try (LocalJob job = LocalJob.start(InMemoryMetrics.config(), 2,
                env -> InferenceJob.build(env, plan), plan.jobName())) {
            send("lost-frames", 0, 10, "l-");
            kafka.await("lost-predictions", 10, WAIT);
            try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
                // what a pause longer than the session timeout does: the broker drops the job's membership
                admin.removeMembersFromConsumerGroup("lost-instance",
                        new org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions()).all().get();
            }
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (InMemoryMetrics.sum("", "numRestarts") < 1 && System.nanoTime() < deadline) {
                Thread.sleep(50); // polling a metric with a deadline
            }
            assertThat(InMemoryMetrics.sum("", "numRestarts")).as("the job noticed and restarted").isEqualTo(1);
            send("lost-frames", 10, 30, "l-");
            assertExactlyOnePerFrame(predictions(kafka.await("lost-predictions", 30, WAIT)), 30, "l-");
            try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
                assertThat(admin.describeConsumerGroups(List.of("lost-instance")).all().get().get("lost-instance").members())
                        .as("it holds the lock again").hasSize(1);
            }
        }
    }

    @Test
    void everyFrameGetsExactlyOneCommittedPredictionEqualToTheOfflineClassifier() throws Exception {
        Configuration o = options("exact", Map.of());
        int n = 300;
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("exact-frames", 0, n, "img-");
            List<Prediction> preds = predictions(kafka.await("exact-predictions", n, WAIT));
            assertExactlyOnePerFrame(preds, n, "img-");
            List<dev.crmn.model.data.PixelImage> images = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                images.add(test.image(i));
            }
            Map<String, List<ClassScore>> offline = new HashMap<>();
            try (Classifier c = Classifier.load(SHIPPED)) {
                List<List<ClassScore>> top = c.topK(images, 3);
                for (int i = 0; i < n; i++) {
                    offline.put("img-" + i, top.get(i));
                }
            }
            for (Prediction p : preds) {
                List<ClassScore> expected = offline.get(p.frameId());
                assertThat(p.top().index()).as("top-1 of %s", p.frameId()).isEqualTo(expected.get(0).index());
                assertThat((double) p.top().probability()).isCloseTo(expected.get(0).probability(),
                        org.assertj.core.data.Offset.offset(1e-4));
                assertThat(p.topK()).hasSize(3);
                assertThat(p.model().name()).isEqualTo("crmn-demo");
                assertThat(p.model().version()).isEqualTo(1);
                assertThat(p.model().sha256()).isEqualTo(Checkpoints.readManifest(SHIPPED.resolve("manifest.json")).sha256());
                assertThat(p.label()).isEqualTo(test.label(Integer.parseInt(p.frameId().substring(4))));
                assertThat(p.batchSize()).isBetween(1, 32);
            }
            assertThat(kafka.committedNow("exact-dead-letters")).isEmpty();
            assertThat(InMemoryMetrics.sum("micro-batch inference", Metrics.FRAMES_CLASSIFIED)).isGreaterThanOrEqualTo(n);
        }
    }

    @Test
    void aSwappedInVersionSurvivesRescalingThroughASavepointUpAndDown() throws Exception {
        Path savepoints = dir.resolve("rescale-savepoints");
        ModelStore store = new ModelStore(InferenceJob.storeUri(options("rescale", Map.of()).get(InferenceOptions.STORE)));
        int sent = 0;
        for (int parallelism : new int[]{1, 2, 1}) {
            InferenceJob.Plan plan = InferenceJob.plan(options("rescale",
                    Map.of(InferenceOptions.PARALLELISM.key(), Integer.toString(parallelism))), Map.of());
            InMemoryMetrics.clear();
            try (LocalJob job = LocalJob.startResumable(InMemoryMetrics.config(), parallelism,
                    env -> InferenceJob.build(env, plan), plan.jobName(), savepoints, false)) {
                String prefix = "p" + parallelism + "-" + sent + "-";
                if (sent == 0) { // parallelism 1: serve v1, then swap to v2 mid-stream
                    send("rescale-frames", 0, 40, "s-");
                    kafka.await("rescale-predictions", 40, WAIT);
                    announce("rescale-model-updates", store.publish(v2));
                    awaitMetric(Metrics.SWAPS, 1, "swapped to v2");
                    sent = 40;
                } else {
                    assertThat(job.resumedFrom()).as("resumed at parallelism %d", parallelism).isPresent();
                    send("rescale-frames", 0, 100, prefix); // both partitions: every subtask serves
                    List<Prediction> preds = predictions(kafka.await("rescale-predictions", sent + 100, WAIT));
                    List<Prediction> mine = preds.stream().filter(p -> p.frameId().startsWith(prefix)).toList();
                    assertExactlyOnePerFrame(mine, 100, prefix);
                    assertThat(mine).as("after rescaling to %d, every subtask serves v2", parallelism)
                            .allMatch(p -> p.model().version() == 2);
                    assertThat(preds).as("no frame predicted twice across the rescales").hasSize(sent + 100);
                    sent += 100;
                }
            } // stops with a savepoint
        }
        // v2 is deleted from the store (and the cache): the restored version cannot be fetched, so the job serves the
        // version it was started with instead of failing and restarting for ever
        ModelRef ref2 = store.list("crmn-demo").stream().filter(r -> r.version() == 2).findFirst().orElseThrow();
        org.apache.flink.util.FileUtils.deleteDirectory(Path.of(java.net.URI.create(ref2.uri())).toFile());
        org.apache.flink.util.FileUtils.deleteDirectory(dir.resolve("rescale-cache").toFile());
        InferenceJob.Plan plan = InferenceJob.plan(options("rescale", Map.of(InferenceOptions.PARALLELISM.key(), "2")), Map.of());
        try (LocalJob job = LocalJob.startResumable(InMemoryMetrics.config(), 2,
                env -> InferenceJob.build(env, plan), plan.jobName(), savepoints, false)) {
            send("rescale-frames", 0, 40, "gone-");
            List<Prediction> mine = predictions(kafka.await("rescale-predictions", sent + 40, WAIT)).stream()
                    .filter(p -> p.frameId().startsWith("gone-")).toList();
            assertThat(mine).hasSize(40).allMatch(p -> p.model().version() == 1);
        }
    }

    @Test
    void aVersionTheStoreCannotServeYetIsTriedAgainAndSwappedInOnceItCan() throws Exception {
        Configuration o = options("retry", Map.of());
        ModelStore store = new ModelStore(InferenceJob.storeUri(o.get(InferenceOptions.STORE)));
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("retry-frames", 0, 40, "a-");
            kafka.await("retry-predictions", 40, WAIT);
            ModelRef ref2 = store.publish(v2);
            Path published = Path.of(java.net.URI.create(ref2.uri()));
            Path hidden = published.resolveSibling("v2.unreachable");
            java.nio.file.Files.move(published, hidden); // the store cannot serve v2 for now (a transient outage)
            announce("retry-model-updates", ref2);
            awaitMetric(Metrics.SWAPS_REFUSED, 2, "both subtasks refused v2");
            java.nio.file.Files.move(hidden, published); // the store is back
            awaitMetric(Metrics.SWAPS, 2, "both subtasks tried again and swapped");
            send("retry-frames", 0, 40, "b-");
            List<Prediction> preds = predictions(kafka.await("retry-predictions", 80, WAIT));
            assertThat(preds.stream().filter(p -> p.frameId().startsWith("b-"))).hasSize(40).allMatch(p -> p.model().version() == 2);
        }
    }

    @Test
    void framesOfAnAbortedUpstreamTransactionAreNeverClassified() throws Exception {
        Configuration o = options("aborted", Map.of());
        int n = 20;
        try (LocalJob job = start(o, new Configuration(), s -> s);
             KafkaProducer<byte[], byte[]> upstream = kafka.producer("aborted-upstream")) {
            upstream.initTransactions();
            upstream.beginTransaction(); // an exactly-once producer upstream aborts a transaction ...
            for (int i = 0; i < n; i++) {
                upstream.send(FrameRecords.record("aborted-frames", null, ImageBytes.png(test.image(i)), ContentType.png(),
                        "aborted-" + i, -1, null));
            }
            upstream.flush();
            upstream.abortTransaction();
            upstream.beginTransaction(); // ... and commits the next one
            for (int i = 0; i < n; i++) {
                upstream.send(FrameRecords.record("aborted-frames", null, ImageBytes.png(test.image(i)), ContentType.png(),
                        "committed-" + i, -1, null));
            }
            upstream.commitTransaction();
            List<Prediction> preds = predictions(kafka.await("aborted-predictions", n, WAIT));
            assertExactlyOnePerFrame(preds, n, "committed-");
            assertThat(preds).noneMatch(p -> p.frameId().startsWith("aborted-"));
            assertThat(kafka.committedNow("aborted-dead-letters")).as("nor dead-lettered").isEmpty();
        }
    }

    @Test
    void aPropertyTheJobOwnsIsRefusedBeforeAnythingStarts() {
        assertThatThrownBy(() -> InferenceJob.plan(Configuration.fromMap(Map.of(InferenceOptions.BOOTSTRAP_SERVERS.key(),
                kafka.bootstrapServers())), Map.of("isolation.level", "read_uncommitted")))
                .isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--kafka.isolation.level is set by the job, not configurable (every source reads read_committed)");
    }

    @Test
    void theOnnxRuntimeEngineServesTheSamePredictionsExactlyOnce() throws Exception {
        Configuration o = options("ort", Map.of(InferenceOptions.ENGINE.key(), "onnxruntime"));
        int n = 150;
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("ort-frames", 0, n, "img-");
            List<Prediction> preds = predictions(kafka.await("ort-predictions", n, WAIT));
            assertExactlyOnePerFrame(preds, n, "img-");
            List<dev.crmn.model.data.PixelImage> images = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                images.add(test.image(i));
            }
            float[][] offline;
            try (Classifier c = Classifier.load(SHIPPED)) {
                offline = c.probabilities(images);
            }
            for (Prediction p : preds) {
                int i = Integer.parseInt(p.frameId().substring(4));
                int best = 0;
                for (int k = 1; k < offline[i].length; k++) {
                    best = offline[i][k] > offline[i][best] ? k : best;
                }
                assertThat(p.top().index()).as("top-1 of %s", p.frameId()).isEqualTo(best);
                assertThat((double) p.top().probability()).isCloseTo(offline[i][best], org.assertj.core.data.Offset.offset(1e-4));
            }
        }
    }

    @Test
    void aNewVersionIsSwappedInMidStreamWithoutLosingOrDuplicatingAFrame() throws Exception {
        Configuration o = options("swap", Map.of(InferenceOptions.MAX_DELAY_MS.key(), "5"));
        ModelStore store = new ModelStore(InferenceJob.storeUri(o.get(InferenceOptions.STORE)));
        AtomicBoolean swapped = new AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            Thread producer = streaming("swap-frames", swapped, sent);
            kafka.await("swap-predictions", 200, WAIT); // v1 is serving
            ModelRef ref2 = store.publish(v2);
            announce("swap-model-updates", ref2);
            awaitSwaps(2);
            swapped.set(true);
            producer.join();
            int n = sent.get();
            List<Prediction> preds = predictions(kafka.await("swap-predictions", n, WAIT));
            assertExactlyOnePerFrame(preds, n, "f-");
            // per partition (= per subtask): in offset order, v1 then v2, one switch
            Map<Integer, TreeMap<Long, Prediction>> byPartition = new HashMap<>();
            for (Prediction p : preds) {
                byPartition.computeIfAbsent(p.source().partition(), k -> new TreeMap<>()).put(p.source().offset(), p);
            }
            assertThat(byPartition).hasSize(2);
            for (TreeMap<Long, Prediction> part : byPartition.values()) {
                List<Long> versions = part.values().stream().map(p -> p.model().version()).toList();
                int firstV2 = versions.indexOf(2L);
                assertThat(firstV2).as("the subtask swapped").isPositive();
                assertThat(versions.subList(0, firstV2)).containsOnly(1L);
                assertThat(versions.subList(firstV2, versions.size())).containsOnly(2L);
                List<Prediction> ordered = new ArrayList<>(part.values());
                long gap = 0;
                for (int i = Math.max(1, firstV2 - 20); i < Math.min(ordered.size(), firstV2 + 20); i++) {
                    gap = Math.max(gap, ordered.get(i).producedAt() - ordered.get(i - 1).producedAt());
                }
                System.out.printf("InferenceJobITCase swap: partition %d switched at offset %d; largest gap between"
                        + " consecutive predictions around the swap: %d ms%n", ordered.get(0).source().partition(),
                        ordered.get(firstV2).source().offset(), gap);
            }
            assertThat(InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS)).isEqualTo(2);
            assertThat(InMemoryMetrics.gauges(Metrics.ACTIVE_MODEL_VERSION)).contains(2L);
        }
    }

    @Test
    void aRollbackGoesBackToTheOlderVersionMidStreamAndTheRolledBackOneIsNotServedAgain() throws Exception {
        Configuration o = options("rollback", Map.of(InferenceOptions.MAX_DELAY_MS.key(), "5"));
        ModelStore store = new ModelStore(InferenceJob.storeUri(o.get(InferenceOptions.STORE)));
        AtomicBoolean rolledBack = new AtomicBoolean();
        java.util.concurrent.atomic.AtomicInteger sent = new java.util.concurrent.atomic.AtomicInteger();
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            Thread producer = streaming("rollback-frames", rolledBack, sent);
            kafka.await("rollback-predictions", 200, WAIT); // v1 is serving
            ModelRef ref1 = store.latest("crmn-demo").orElseThrow();
            ModelRef ref2 = store.publish(v2);
            announce("rollback-model-updates", ref2);
            awaitSwaps(2);
            long decided = System.currentTimeMillis();
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                p.send(ModelRefSerializationSchema.record("rollback-model-updates",
                        dev.crmn.connectors.format.ModelUpdate.rollback(ref1, 2, "test"))).get();
            }
            awaitSwaps(4);
            announce("rollback-model-updates", ref2); // announced again: ignored, it was rolled back
            rolledBack.set(true);
            producer.join();
            int n = sent.get();
            List<Prediction> preds = predictions(kafka.await("rollback-predictions", n, WAIT));
            assertExactlyOnePerFrame(preds, n, "f-");
            Map<Integer, TreeMap<Long, Prediction>> byPartition = new HashMap<>();
            for (Prediction p : preds) {
                byPartition.computeIfAbsent(p.source().partition(), k -> new TreeMap<>()).put(p.source().offset(), p);
            }
            for (TreeMap<Long, Prediction> part : byPartition.values()) {
                List<Long> versions = part.values().stream().map(p -> p.model().version()).toList();
                int firstV2 = versions.indexOf(2L);
                int lastV2 = versions.lastIndexOf(2L);
                assertThat(firstV2).as("the subtask swapped to v2").isPositive();
                assertThat(versions.subList(firstV2, lastV2 + 1)).containsOnly(2L);
                assertThat(versions.subList(lastV2 + 1, versions.size())).as("after the rollback: v1 only").isNotEmpty()
                        .containsOnly(1L);
                long lastV2At = new ArrayList<>(part.values()).get(lastV2).producedAt();
                System.out.printf("InferenceJobITCase rollback: the last v2 prediction %d ms after the decision%n",
                        lastV2At - decided);
                assertThat(lastV2At - decided).as("within 30 s of the decision").isLessThan(30_000);
            }
            assertThat(InMemoryMetrics.gauges(Metrics.ACTIVE_MODEL_VERSION)).contains(1L).doesNotContain(2L);
        }
    }

    /**
     * Sends frames {@code f-<i>} to {@code topic} at ~500/s until {@code done} is set, and 400 more after it;
     * {@code sent} says how many so far.
     */
    private static Thread streaming(String topic, AtomicBoolean done, java.util.concurrent.atomic.AtomicInteger sent) {
        Thread producer = new Thread(() -> {
            try {
                int extra = 0;
                for (int i = 0; extra < 400; i += 20) {
                    send(topic, i, i + 20, "f-");
                    sent.set(i + 20);
                    extra += done.get() ? 20 : 0;
                    Thread.sleep(20); // pacing: ~500 frames/s
                }
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        producer.start();
        return producer;
    }

    private static void awaitSwaps(int n) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS) < n && System.nanoTime() < deadline) {
            Thread.sleep(50); // polling a metric with a deadline
        }
        assertThat(InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS)).as("swaps").isGreaterThanOrEqualTo(n);
    }

    @Test
    void badCheckpointsAreRefusedAndTheServingModelCarriesOn() throws Exception {
        Path key = Files.writeString(dir.resolve("store.key"), "s3cret");
        Configuration o = options("refuse", Map.of(InferenceOptions.SIGNING_KEY_FILE.key(), key.toString()));
        ModelStore signed = new ModelStore(new org.apache.flink.core.fs.Path(InferenceJob.storeUri(o.get(InferenceOptions.STORE))),
                "s3cret".getBytes(StandardCharsets.UTF_8));
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("refuse-frames", 0, 50, "a-");
            kafka.await("refuse-predictions", 50, WAIT);
            // v2, corrupted after publication
            ModelRef corrupted = signed.publish(v2);
            Path zip = Path.of(java.net.URI.create(corrupted.uri())).resolve(Checkpoints.MODEL);
            byte[] bytes = Files.readAllBytes(zip);
            bytes[bytes.length / 2] ^= 1;
            Files.write(zip, bytes);
            announce("refuse-model-updates", corrupted);
            // v3, a model of other classes
            Checkpoints.Loaded base = Checkpoints.load(SHIPPED, false);
            Path other = dir.resolve("other-classes");
            Checkpoints.write(other, base.network(), base.manifest().toBuilder().version(3)
                    .labels(dev.crmn.model.data.CifarBinaryReader.placeholderNames(10)).build());
            announce("refuse-model-updates", signed.publish(other));
            // v4, unsigned (published by a store without the key)
            Checkpoints.Loaded b2 = Checkpoints.load(v2, false);
            Path v4 = dir.resolve("v4");
            Checkpoints.write(v4, b2.network(), b2.manifest().toBuilder().version(4).build());
            ModelRef unsigned = new ModelStore(dir.resolve("unsigned-store").toUri().toString()).publish(v4);
            announce("refuse-model-updates", unsigned);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS_REFUSED) < 6 && System.nanoTime() < deadline) {
                Thread.sleep(100); // polling a metric with a deadline
            }
            assertThat(InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS_REFUSED)).as("3 refusals x 2 subtasks")
                    .isEqualTo(6);
            send("refuse-frames", 50, 100, "a-");
            List<Prediction> preds = predictions(kafka.await("refuse-predictions", 100, WAIT));
            assertExactlyOnePerFrame(preds, 100, "a-");
            assertThat(preds).allMatch(p -> p.model().version() == 1);
            assertThat(InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS)).isZero();
        }
    }

    @Test
    void badFramesGoToDeadLettersWithTheirReasonAndTheJobNeverRestarts() throws Exception {
        Configuration o = options("bad", Map.of());
        Configuration noRestarts = new Configuration();
        noRestarts.setString("restart-strategy.type", "none");
        byte[] png = ImageBytes.png(test.image(0));
        Map<String, byte[]> bad = new java.util.LinkedHashMap<>();
        Map<String, String> badTypes = new HashMap<>();
        bad.put("truncated", java.util.Arrays.copyOf(png, png.length / 2));
        bad.put("random", new java.util.Random(3).ints(500, 0, 256).collect(java.io.ByteArrayOutputStream::new,
                (s, b) -> s.write(b), (x, y) -> { }).toByteArray());
        bad.put("bomb", Images.pngHeaderClaiming(100_000, 100_000));
        bad.put("raw-size", new byte[100]);
        badTypes.put("raw-size", "application/x-raw; format=rgb8; width=32; height=32");
        bad.put("gif", "GIF89a-not-really".getBytes(StandardCharsets.UTF_8));
        badTypes.put("gif", "image/gif");
        bad.put("empty", new byte[0]);
        Map<String, String> expectedReason = Map.of("truncated", "undecodable-image", "random", "undecodable-image",
                "bomb", "too-large", "raw-size", "wrong-dimensions", "gif", "unknown-content-type", "empty", "empty-value");
        try (LocalJob job = start(o, noRestarts, s -> s)) {
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                int i = 0;
                for (Map.Entry<String, byte[]> e : bad.entrySet()) {
                    var rec = FrameRecords.record("bad-frames", "k-" + e.getKey(), e.getValue(),
                            badTypes.getOrDefault(e.getKey(), "image/png"), "bad-" + e.getKey(), -1, null);
                    p.send(rec);
                    var good = FrameRecords.record("bad-frames", null, ImageBytes.png(test.image(i)), ContentType.png(),
                            "good-" + i, -1, null);
                    p.send(good);
                    i++;
                }
            }
            List<Prediction> preds = predictions(kafka.await("bad-predictions", bad.size(), WAIT));
            assertThat(preds).extracting(Prediction::frameId).allMatch(id -> id.startsWith("good-")).hasSize(bad.size());
            List<ConsumerRecord<byte[], byte[]>> dead = kafka.await("bad-dead-letters", bad.size(), WAIT);
            assertThat(dead).hasSize(bad.size());
            for (ConsumerRecord<byte[], byte[]> r : dead) {
                DeadLetter d = DeadLetter.fromRecord(r);
                String name = d.original().frameId().substring(4);
                assertThat(d.reason().wireName()).as(name).isEqualTo(expectedReason.get(name));
                assertThat(d.original().value() == null ? new byte[0] : d.original().value()).as("original bytes of " + name)
                        .isEqualTo(bad.get(name));
                assertThat(d.original().keyString()).isEqualTo("k-" + name);
            }
            assertThat(job.client().getJobStatus().get()).isEqualTo(org.apache.flink.api.common.JobStatus.RUNNING);
            assertThat(InMemoryMetrics.sum("decode and validate", Metrics.DEAD_LETTERS + ".too-large")).isEqualTo(1);
        }
    }

    @Test
    void afterATaskFailureTheJobRestoresAndStillWritesExactlyOnePredictionPerFrame() throws Exception {
        Configuration o = options("fail", Map.of());
        Configuration restart = new Configuration();
        restart.setString("restart-strategy.type", "fixed-delay");
        restart.setString("restart-strategy.fixed-delay.attempts", "3");
        restart.setString("restart-strategy.fixed-delay.delay", "200 ms");
        ModelStore store = new ModelStore(InferenceJob.storeUri(o.get(InferenceOptions.STORE)));
        FailOnce.armed.set(false);
        FailOnce.failed.set(false);
        try (LocalJob job = start(o, restart, s -> s.map(new FailOnce()).returns(TypeInformation.of(DecodedFrame.class))
                .name("fail once").uid("fail-once"))) {
            send("fail-frames", 0, 200, "x-");
            kafka.await("fail-predictions", 200, WAIT);
            announce("fail-model-updates", store.publish(v2));
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (InMemoryMetrics.sum("micro-batch inference", Metrics.SWAPS) < 2 && System.nanoTime() < deadline) {
                Thread.sleep(100); // polling a metric with a deadline
            }
            send("fail-frames", 200, 400, "x-");
            kafka.await("fail-predictions", 400, WAIT); // a checkpoint after the swap has completed
            FailOnce.armed.set(true); // the next frame after the next completed checkpoint fails its task
            int sent = 400;
            deadline = System.nanoTime() + WAIT.toNanos();
            while (!FailOnce.failed.get() && System.nanoTime() < deadline) {
                send("fail-frames", sent, sent + 20, "x-"); // frames keep coming until the failure happened
                sent += 20;
                Thread.sleep(50);
            }
            send("fail-frames", sent, sent + 100, "x-"); // and some after the restore
            int n = sent + 100;
            List<Prediction> preds = predictions(kafka.await("fail-predictions", n, WAIT));
            assertThat(FailOnce.failed.get()).as("the failure was injected").isTrue();
            assertExactlyOnePerFrame(preds, n, "x-");
            Map<Integer, TreeMap<Long, Long>> versions = new HashMap<>();
            for (Prediction p : preds) {
                versions.computeIfAbsent(p.source().partition(), k -> new TreeMap<>()).put(p.source().offset(), p.model().version());
            }
            for (TreeMap<Long, Long> part : versions.values()) {
                List<Long> v = new ArrayList<>(part.values());
                int first2 = v.indexOf(2L);
                assertThat(v.subList(first2, v.size())).as("after the swap, and after the restore: v2 only").containsOnly(2L);
            }
            assertThat(preds.stream().filter(p -> Integer.parseInt(p.frameId().substring(2)) >= 400))
                    .allMatch(p -> p.model().version() == 2);
        }
    }

    /** Fails its task once, on the first frame after it is armed and a checkpoint has completed since. */
    static final class FailOnce extends RichMapFunction<DecodedFrame, DecodedFrame> implements CheckpointListener {
        static final AtomicBoolean armed = new AtomicBoolean();
        static final AtomicBoolean failed = new AtomicBoolean();
        private transient boolean checkpointSinceArmed;

        @Override
        public DecodedFrame map(DecodedFrame f) {
            if (armed.get() && checkpointSinceArmed && failed.compareAndSet(false, true)) {
                throw new IllegalStateException("injected task failure at " + f.frameId());
            }
            return f;
        }

        @Override
        public void notifyCheckpointComplete(long checkpointId) {
            checkpointSinceArmed = armed.get();
        }
    }
}
