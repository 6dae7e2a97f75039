package dev.crmn.it.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.it.testutil.InMemoryMetrics;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.DecodeFunction;
import dev.crmn.jobs.finetune.FineTuneJob;
import dev.crmn.jobs.finetune.FineTuneOptions;
import dev.crmn.jobs.finetune.FineTuneRounds;
import dev.crmn.jobs.finetune.RoundReport;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.testutil.TestData;
import dev.crmn.model.train.Trainer;
import dev.crmn.model.train.TrainingSettings;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.function.BooleanSupplier;
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
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fine-tuning job end to end with small settings: a deliberately weak model (crmn-tiny, one short epoch), a
 * labelled stream from {@code data_batch_3.bin} (images the model never saw), a real broker and a MiniCluster.
 */
class FineTuneJobITCase {

    static final Duration WAIT = Duration.ofMinutes(3);
    static final int HOLDOUT_PERCENT = 20;

    static KafkaFixture kafka;
    @TempDir
    static Path dir;
    static Path weak;
    static ImageSet stream;
    static ImageSet check;

    @BeforeAll
    static void setUp() throws Exception {
        kafka = KafkaFixture.start();
        ImageSet few = ImageSet.load(List.of(TestData.trainBatch1()), 384);
        TrainingSettings s = TrainingSettings.builder().epochs(1).batchSize(32).holdout(64).build();
        Trainer.Result r = new Trainer(s, null, null).train(Presets.get("crmn-tiny"), "tiny", "crmn-tiny", few);
        weak = dir.resolve("tiny-v1");
        Checkpoints.write(weak, r.network(), r.manifest());
        stream = TestData.labelledStream(6000);
        check = ImageSet.load(List.of(TestData.testBatch()), 400);
    }

    @AfterAll
    static void tearDown() throws Exception {
        kafka.close();
    }

    /** The rounds and restores of the jobs this class runs (every trainer in this JVM reports to it). */
    static final FineTuneRounds.Collector reports = FineTuneRounds.collect();

    @BeforeEach
    void fresh() {
        reports.clear();
        InMemoryMetrics.clear();
    }

    /** A store holding the weak model as v1, and the job's options. */
    static Configuration options(String test) throws Exception {
        return options(test, weak, "tiny");
    }

    /** A store holding {@code model} as v1, and the job's options. */
    static Configuration options(String test, Path model, String name) throws Exception {
        Map<String, String> m = wiring(kafka, dir, test, model, name);
        m.put(FineTuneOptions.ROUND_FRAMES.key(), "600");
        m.put(FineTuneOptions.ROUND_STEPS.key(), "60");
        m.put(FineTuneOptions.BATCH_SIZE.key(), "32");
        m.put(FineTuneOptions.LEARNING_RATE.key(), "0.05");
        // rounds of 60 steps on a weak model: an average over the last ~10 steps (the job's 0.998 suits rounds of
        // 150 steps on a trained model, where starting near the serving weights is what helps)
        m.put(FineTuneOptions.AVERAGE_DECAY.key(), "0.9");
        m.put(FineTuneOptions.MARGIN.key(), "0.5");
        m.put(FineTuneOptions.HOLDOUT_PERCENT.key(), Integer.toString(HOLDOUT_PERCENT));
        m.put(FineTuneOptions.HOLDOUT_SIZE.key(), "500");
        m.put(FineTuneOptions.RESERVOIR_SIZE.key(), "3000");
        m.put(FineTuneOptions.CHECKPOINT_INTERVAL_MS.key(), "1000");
        return Configuration.fromMap(m);
    }

    /**
     * Topics {@code <test>-labelled/-dead-letters/-model-updates}, a store under {@code dir} holding {@code model} as
     * v1, and the options that wire the job to them (every other option at its default).
     */
    static Map<String, String> wiring(KafkaFixture kafka, Path dir, String test, Path model, String name) throws Exception {
        kafka.createTopic(test + "-labelled", 2);
        kafka.createTopic(test + "-dead-letters", 1);
        kafka.createTopic(test + "-model-updates", 1, Map.of("cleanup.policy", "compact"));
        new ModelStore(dir.resolve(test + "-store").toString()).publish(model);
        Map<String, String> m = new HashMap<>();
        m.put(FineTuneOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers());
        m.put(FineTuneOptions.LABELLED_TOPIC.key(), test + "-labelled");
        m.put(FineTuneOptions.DEAD_LETTERS_TOPIC.key(), test + "-dead-letters");
        m.put(FineTuneOptions.MODEL_UPDATES_TOPIC.key(), test + "-model-updates");
        m.put(FineTuneOptions.GROUP_ID.key(), test);
        m.put(FineTuneOptions.TRANSACTIONAL_ID_PREFIX.key(), test);
        m.put(FineTuneOptions.STORE.key(), dir.resolve(test + "-store").toString());
        m.put(FineTuneOptions.MODEL_CACHE.key(), dir.resolve(test + "-cache").toString());
        m.put(Checkpointing.CHECKPOINT_DIR.key(), dir.resolve(test + "-checkpoints").toString());
        m.put(FineTuneOptions.MODEL.key(), name);
        return m;
    }

    static LocalJob start(Configuration options, Configuration flink, UnaryOperator<DataStream<DecodedFrame>> hook)
            throws Exception {
        FineTuneJob.Plan plan = FineTuneJob.plan(options, Map.of());
        Configuration f = InMemoryMetrics.config();
        f.addAll(flink);
        return LocalJob.start(f, 1, env -> {
            var decoded = FineTuneJob.labelledFrames(env, plan); // the job's two halves, the test's step in between
            FineTuneJob.trained(env, plan, hook.apply(decoded), decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
        }, plan.jobName());
    }

    /** Whether the trainer keeps image {@code i} of the stream for its holdout (it splits by the decoded pixels). */
    static boolean inHoldout(int i) {
        return dev.crmn.jobs.finetune.TrainingFrames.inHoldout(stream.image(i).pixels(), HOLDOUT_PERCENT);
    }

    /** Stream images [from, to) as labelled frames {@code <prefix><i>}; {@code scramble}: wrong labels on training frames. */
    static void send(String topic, int from, int to, String prefix, boolean scramble) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            for (int i = from; i < to; i++) {
                String id = prefix + i;
                int label = stream.label(i);
                if (scramble && !inHoldout(i)) {
                    label = (label + 1 + i % 9) % 10; // never the right class
                }
                p.send(FrameRecords.record(topic, null, ImageBytes.png(stream.image(i)), ContentType.png(), id, -1,
                        Integer.toString(label)));
            }
        }
    }

    static void await(BooleanSupplier condition, String what) throws InterruptedException {
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (!condition.getAsBoolean()) {
            if (System.nanoTime() > deadline) {
                throw new AssertionError("timed out waiting for " + what);
            }
            Thread.sleep(100); // polling with a deadline
        }
    }

    /**
     * Takes a checkpoint of a local job now (its MiniCluster's own call, reached through the job client: the
     * JobClient interface offers savepoints only, and savepoints do not commit side effects).
     */
    static void checkpointNow(LocalJob job) throws Exception {
        java.lang.reflect.Field f = job.client().getClass().getDeclaredField("miniCluster");
        f.setAccessible(true);
        ((org.apache.flink.runtime.minicluster.MiniCluster) f.get(job.client())).triggerCheckpoint(job.client().getJobID())
                .get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
    }

    static List<ModelRef> announced(String topic, int atLeast) throws Exception {
        List<ModelRef> refs = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.await(topic, atLeast, WAIT)) {
            refs.add(ModelRefJson.fromBytes(r.value()));
        }
        return refs;
    }

    /**
     * {@code crmn finetune} stopped (with a savepoint) and started again resumes its frames, also when stopped
     * again at once; started again for another model under the same group, it does not go on fine-tuning the
     * first one: the first model's state is dropped and the job starts from the other model's latest version.
     */
    @Test
    void restartedForAnotherModelItDropsTheFirstModelsStateInsteadOfTrainingIt() throws Exception {
        Configuration first = options("switch");
        Checkpoints.Loaded tiny = Checkpoints.load(weak, false);
        Path other = dir.resolve("tiny-b");
        Checkpoints.write(other, tiny.network(), tiny.manifest().toBuilder().name("tiny-b").build());
        new ModelStore(dir.resolve("switch-store").toString()).publish(other);
        Configuration second = new Configuration(first);
        second.set(FineTuneOptions.MODEL, "tiny-b");
        Path savepoints = dir.resolve("switch-savepoints");
        send("switch-labelled", 0, 200, "s-", false); // fewer than a round: the frames stay in the job's state
        try (LocalJob job = resumable(first, savepoints)) {
            await(() -> framesHeld() >= 150, "the first job to hold the frames");
        } // stopped with a savepoint
        try (LocalJob job = resumable(first, savepoints)) {
            assertThat(job.resumedFrom()).isPresent();
        } // stopped at once, while its tasks may still be starting: it still stops with a savepoint (the one it
          // resumed from is its own now, and a cancelled job's would be deleted)
        assertThat(LocalJob.newestSavepoint(savepoints)).as("a savepoint to resume from").isPresent();
        assertThat(reports.restores()).as("the job stopped at once had restored its state first").hasSize(1);
        FineTuneRounds.Restore same = reports.restores().get(0);
        assertThat(same.dropped()).as("the same model: its state is kept").isNull();
        assertThat(same.reservoir() + same.holdout()).isGreaterThanOrEqualTo(150);
        reports.clear();
        InMemoryMetrics.clear();
        try (LocalJob job = resumable(second, savepoints)) {
            assertThat(job.resumedFrom()).as("the stream position is still resumed").isPresent();
            await(() -> !reports.restores().isEmpty(), "the restore");
            FineTuneRounds.Restore switched = reports.restores().get(0);
            assertThat(switched.dropped()).isEqualTo("tiny");
            assertThat(new int[]{switched.reservoir(), switched.holdout(), switched.newFrames(), switched.pendingVersions()})
                    .containsOnly(0);
            send("switch-labelled", 200, 260, "s-", false);
            await(() -> framesHeld() >= 40, "the new frames in the second model's state");
            assertThat(framesHeld()).as("only frames that came after the switch").isLessThanOrEqualTo(60);
        }
    }

    /** A fine-tuning job that stops with a savepoint into {@code savepoints} and resumes from the newest. */
    private static LocalJob resumable(Configuration options, Path savepoints) throws Exception {
        FineTuneJob.Plan plan = FineTuneJob.plan(options, Map.of());
        return LocalJob.startResumable(InMemoryMetrics.config(), 1, env -> FineTuneJob.build(env, plan),
                plan.jobName(), savepoints, false);
    }

    /** The frames the running trainer holds (reservoir and holdout), from its gauges; 0 before it reports. */
    private static long framesHeld() {
        List<Object> reservoir = InMemoryMetrics.gauges("reservoirSize");
        List<Object> holdout = InMemoryMetrics.gauges("holdoutSize");
        return (reservoir.isEmpty() ? 0 : ((Number) reservoir.get(reservoir.size() - 1)).longValue())
                + (holdout.isEmpty() ? 0 : ((Number) holdout.get(holdout.size() - 1)).longValue());
    }

    @Test
    void aLabelledStreamYieldsABetterVersionWithItsLineage() throws Exception {
        Configuration o = options("promote");
        o.set(FineTuneOptions.REPLICAS, 2); // each step's 32 images split between two copies of the network
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("promote-labelled", 0, 2500, "p-", false);
            await(() -> reports.all().stream().anyMatch(RoundReport::promoted), "a promotion");
            RoundReport r = reports.all().stream().filter(RoundReport::promoted).findFirst().orElseThrow();
            assertThat(r.candidateAccuracy()).isGreaterThan(r.baseAccuracy() + 0.005);
            List<ModelRef> refs = announced("promote-model-updates", 1);
            ModelRef v2 = refs.get(0);
            assertThat(v2.version()).isEqualTo(r.candidateVersion()).isEqualTo(2);
            assertThat(v2.parentVersion()).isEqualTo(1);
            Manifest v1 = Checkpoints.readManifest(weak.resolve(Checkpoints.MANIFEST));
            assertThat(v2.parentSha256()).isEqualTo(v1.sha256());
            ModelStore store = new ModelStore(dir.resolve("promote-store").toString());
            assertThat(store.list("tiny")).extracting(ModelRef::version).contains(1L, 2L);
            Manifest m = Checkpoints.readManifest(store.fetch(v2, dir.resolve("promote-fetched")).resolve(Checkpoints.MANIFEST));
            assertThat(m.training()).containsEntry("mode", "fine-tune").containsEntry("source_topic", "promote-labelled")
                    .containsKeys("offset_ranges", "steps", "learning_rate", "new_frames", "replayed_frames")
                    .containsEntry("replicas", 2);
            assertThat((List<?>) m.training().get("offset_ranges")).isNotEmpty();
            assertThat(m.metrics().get("holdout_accuracy")).isEqualTo(r.candidateAccuracy());
        }
    }

    @Test
    void aVersionNumberTakenByAnotherPublisherIsRenumberedNotARestartLoop() throws Exception {
        Map<String, String> m = new HashMap<>(options("renumber").toMap());
        // no periodic checkpoint before the test takes one: the promoted version waits in state until then
        m.put(FineTuneOptions.CHECKPOINT_INTERVAL_MS.key(), "3600000");
        Configuration o = Configuration.fromMap(m);
        ModelStore store = new ModelStore(dir.resolve("renumber-store").toString());
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("renumber-labelled", 0, 2500, "n-", false);
            await(() -> reports.all().stream().anyMatch(RoundReport::promoted), "a promotion");
            RoundReport r = reports.all().stream().filter(RoundReport::promoted).findFirst().orElseThrow();
            assertThat(r.candidateVersion()).isEqualTo(2);
            // meanwhile another publisher puts another checkpoint under v2 (the weak model, re-versioned)
            Path intruder = dir.resolve("renumber-intruder");
            java.nio.file.Files.createDirectories(intruder);
            java.nio.file.Files.copy(weak.resolve(Checkpoints.MODEL), intruder.resolve(Checkpoints.MODEL));
            Manifest w = Checkpoints.readManifest(weak.resolve(Checkpoints.MANIFEST));
            java.nio.file.Files.write(intruder.resolve(Checkpoints.MANIFEST),
                    Checkpoints.json().writeValueAsBytes(w.toBuilder().version(2).build()));
            ModelRef taken = store.publish(intruder);
            // the checkpoint that holds the promoted version publishes it when it completes; its announcement is
            // committed with the next one
            checkpointNow(job);
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (kafka.committedNow("renumber-model-updates").isEmpty() && System.nanoTime() < deadline) {
                checkpointNow(job);
            }
            List<ModelRef> refs = announced("renumber-model-updates", 1);
            ModelRef published = refs.get(0);
            assertThat(published.version()).as("renumbered above the intruder").isGreaterThan(2);
            assertThat(published.sha256()).isNotEqualTo(taken.sha256());
            assertThat(store.list("tiny")).extracting(ModelRef::version).startsWith(1L, 2L).contains(published.version());
            assertThat(store.list("tiny").get(1).sha256()).as("the intruder keeps v2").isEqualTo(taken.sha256());
            assertThat(store.fetch(published, dir.resolve("renumber-fetched"))).isDirectory();
            assertThat(job.client().getJobStatus().get()).isEqualTo(org.apache.flink.api.common.JobStatus.RUNNING);
        }
    }

    @Test
    void theSameImageUnderTwoFrameIdsLandsOnOneSideAndAHoldoutTooSmallSkipsTheRoundOnceSayingWhy() throws Exception {
        Configuration o = options("split");
        o.set(FineTuneOptions.ROUND_FRAMES, 150);
        o.set(FineTuneOptions.MIN_HOLDOUT, 1_000_000); // never reached: every round would be decided on too few
        int n = 200;
        long holdoutImages = java.util.stream.IntStream.range(0, n).filter(FineTuneJobITCase::inHoldout).count();
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("split-labelled", 0, n, "first-", false);
            send("split-labelled", 0, n, "again-", false); // a producer run twice: other ids, the same images
            await(() -> framesHeld() >= 2L * n, "every frame taken");
            List<Object> holdout = InMemoryMetrics.gauges("holdoutSize");
            assertThat(((Number) holdout.get(holdout.size() - 1)).longValue())
                    .as("each image's two copies went to the same side").isEqualTo(2 * holdoutImages);
            await(() -> !reports.all().isEmpty(), "a round");
            RoundReport r = reports.all().get(0);
            assertThat(r.decision()).isEqualTo("skipped");
            assertThat(r.reason()).matches("the holdout has \\d+ image\\(s\\), a decision needs at least 1000000"
                    + " \\(--min-holdout\\)");
            assertThat(r.test()).isEqualTo("paired-t-loss");
            assertThat(r.pValue()).isNull();
            assertThat(r.candidateVersion()).isNull();
            send("split-labelled", n, n + 200, "more-", false);
            await(() -> framesHeld() >= 3L * n, "the later frames taken");
            assertThat(reports.all()).as("reported once while the rounds wait for a larger holdout").hasSize(1);
            assertThat(InMemoryMetrics.sum("", "numRestarts")).as("no task failed").isZero();
        }
    }

    @Test
    void whenTheStreamGoesQuietRoundsGoOnOverTheReservoirUntilThePatienceThenWaitForNewFrames() throws Exception {
        // the shipped model: near what this data can teach it, so candidates are refused and the patience runs out
        Configuration o = options("quiet", Path.of("..", "models", "crmn-demo"), "crmn-demo");
        o.set(FineTuneOptions.PATIENCE, 2);
        o.set(FineTuneOptions.ROUND_INTERVAL, 4L);
        o.set(FineTuneOptions.ROUND_STEPS, 20);
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("quiet-labelled", 0, 800, "q-", false);
            await(() -> !reports.all().isEmpty(), "a round on the new frames");
            // then nothing more arrives
            await(() -> {
                List<Object> left = InMemoryMetrics.gauges("quietRoundsLeft");
                return !left.isEmpty() && ((Number) left.get(left.size() - 1)).intValue() == 0
                        && reports.all().stream().anyMatch(r -> r.newFrames() == 0);
            }, "the patience to run out");
            List<RoundReport> rounds = reports.all();
            assertThat(rounds.get(0).newFrames()).as("the first round trained on the new frames").isPositive();
            List<RoundReport> lastTwo = rounds.subList(rounds.size() - 2, rounds.size());
            assertThat(lastTwo).as("it stopped after two refusals in a row that counted towards the patience")
                    .allMatch(r -> r.decision().equals("refused") && Boolean.TRUE.equals(r.countsTowardPatience()));
            assertThat(rounds).as("a refusal counts when the candidate is neither ahead in accuracy nor below in loss")
                    .filteredOn(r -> r.decision().equals("refused")).allSatisfy(r -> assertThat(r.countsTowardPatience())
                            .isEqualTo(!(r.candidateAccuracy() > r.baseAccuracy() || r.candidateLoss() < r.baseLoss())));
            assertThat(rounds).filteredOn(RoundReport::promoted).allMatch(r -> r.countsTowardPatience() == null);
            RoundReport last = rounds.get(rounds.size() - 1);
            assertThat(last.newFrames()).as("the last round was over the reservoir alone").isZero();
            assertThat(last.trainImages()).isPositive();
            int before = rounds.size();
            send("quiet-labelled", 800, 1600, "q-", false);
            await(() -> reports.all().stream().skip(before).anyMatch(r -> r.newFrames() > 0),
                    "a round on the next new frames");
        }
    }

    @Test
    void aRoundOnScrambledLabelsIsNotPromoted() throws Exception {
        // a base well above chance (the shipped model): training on wrong labels must lose against it on the
        // correctly labelled holdout (a base at chance level could be "beaten" by noise)
        Configuration o = options("scrambled", Path.of("..", "models", "crmn-demo"), "crmn-demo");
        o.removeConfig(FineTuneOptions.MARGIN); // the default gate: the loss test, no accuracy margin
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            send("scrambled-labelled", 0, 1600, "s-", true);
            await(() -> reports.all().size() >= 2, "two rounds");
            assertThat(reports.all()).noneMatch(RoundReport::promoted)
                    .allMatch(r -> r.decision().startsWith("refused"));
            assertThat(reports.all()).allMatch(r -> r.baseAccuracy() > 0.5 && r.candidateAccuracy() < r.baseAccuracy());
            assertThat(reports.all()).allMatch(r -> r.test().equals("paired-t-loss") && r.candidateLoss() > r.baseLoss()
                    && r.pValue() > 0.5);
            assertThat(new ModelStore(dir.resolve("scrambled-store").toString()).list("crmn-demo")).hasSize(1);
        }
    }

    @Test
    void badLabelledFramesGoToDeadLettersWithTheirReason() throws Exception {
        Configuration o = options("badlabels");
        try (LocalJob job = start(o, new Configuration(), s -> s)) {
            try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
                byte[] png = ImageBytes.png(stream.image(0));
                p.send(FrameRecords.record("badlabels-labelled", "k", png, ContentType.png(), "no-label", -1, null));
                p.send(FrameRecords.record("badlabels-labelled", "k", png, ContentType.png(), "out-of-range", -1, "42"));
                p.send(FrameRecords.record("badlabels-labelled", "k", png, ContentType.png(), "unknown-name", -1, "unicorn"));
                p.send(FrameRecords.record("badlabels-labelled", "k", png, ContentType.png(), "by-name", -1, "cat"));
            }
            Map<String, String> reasons = new HashMap<>();
            for (ConsumerRecord<byte[], byte[]> r : kafka.await("badlabels-dead-letters", 3, WAIT)) {
                DeadLetter d = DeadLetter.fromRecord(r);
                reasons.put(d.original().frameId(), d.reason().wireName());
            }
            assertThat(reasons).containsExactlyInAnyOrderEntriesOf(Map.of("no-label", "missing-label",
                    "out-of-range", "bad-label", "unknown-name", "bad-label"));
            // a second copy with the same group would train on the same frames and race for the same version numbers
            java.io.IOException refused = dev.crmn.it.testutil.SecondCopy.awaitRefusal(() -> FineTuneJob.plan(o, Map.of()), WAIT);
            assertThat(refused).as("a second copy is refused while the first runs").isNotNull();
            assertThat(refused.getMessage()).contains("another fine-tuning job with --group-id badlabels is running");
        }
        assertThat(FineTuneJob.plan(o, Map.of())).as("after the first copy stopped").isNotNull();
    }

    @Test
    void aFailureMidRoundLosesNoDataAndNeitherRepeatsNorLosesAVersion() throws Exception {
        Configuration o = options("failure");
        // about publishing across a restart, not about how good a round is: a lenient gate, so that rounds on the
        // sample's repeated images (where the tiny model soon stops gaining) still promote now and then
        o.set(FineTuneOptions.MARGIN, 0.0);
        o.set(FineTuneOptions.SIGNIFICANCE, 0.49);
        // and the store pruned after each promotion, across the restart: v1, never recorded as serving, goes once v2
        // serves; the versions the job promotes stay (serving, or among the 3 most recently served)
        o.set(FineTuneOptions.PRUNE_KEEP, 1);
        Configuration restart = new Configuration();
        restart.setString("restart-strategy.type", "fixed-delay");
        restart.setString("restart-strategy.fixed-delay.attempts", "3");
        restart.setString("restart-strategy.fixed-delay.delay", "200 ms");
        FailWhileTraining.failed.set(false);
        try (LocalJob job = start(o, restart, s -> s.map(new FailWhileTraining()).returns(TypeInformation.of(DecodedFrame.class))
                .name("fail while training").uid("fail-while-training"))) {
            send("failure-labelled", 0, 900, "f-", false); // round 1 starts at 600 new training frames
            int sent = 900;
            long deadline = System.nanoTime() + WAIT.toNanos();
            while (!FailWhileTraining.failed.get() && System.nanoTime() < deadline) {
                send("failure-labelled", sent, sent + 10, "f-", false); // frames while round 1 trains: the task fails
                sent += 10;
                Thread.sleep(100);
            }
            assertThat(FailWhileTraining.failed.get()).as("the failure was injected mid-round").isTrue();
            await(() -> !reports.restores().isEmpty(), "the restore");
            FineTuneRounds.Restore restored = reports.restores().get(0);
            assertThat(restored.reservoir()).as("the replay reservoir came back from state").isPositive();
            assertThat(restored.holdout()).as("the holdout came back from state").isPositive();
            send("failure-labelled", sent, sent + 1700, "f-", false);
            sent += 1700;
            // the test is about publishing across a restart, not about how good a round is: a round whose candidate
            // the gate refuses gets another round's worth of frames, until two rounds have promoted
            long deadline2 = System.nanoTime() + WAIT.toNanos();
            int roundsSeen = reports.all().size();
            while (reports.all().stream().filter(RoundReport::promoted).count() < 2) {
                if (System.nanoTime() > deadline2) {
                    throw new AssertionError("timed out waiting for two promotions: " + reports.all());
                }
                int rounds = reports.all().size();
                if (rounds > roundsSeen) {
                    roundsSeen = rounds;
                    if (!reports.all().get(rounds - 1).promoted()) {
                        send("failure-labelled", sent, sent + 700, "f-", false);
                        sent += 700;
                    }
                }
                Thread.sleep(100); // polling the job's round reports with a deadline
            }
            ModelStore store = new ModelStore(dir.resolve("failure-store").toString());
            await(() -> {
                try {
                    return store.list("tiny").size() >= 3;
                } catch (java.io.IOException e) {
                    return false;
                }
            }, "two promoted versions in the store");
            List<ModelRef> refs = announced("failure-model-updates", 2);
            List<Long> published = store.list("tiny").stream().map(ModelRef::version).filter(v -> v > 1).toList();
            List<Long> versions = refs.stream().map(ModelRef::version).toList();
            assertThat(new HashSet<>(versions)).as("no version announced twice").hasSize(versions.size());
            assertThat(versions).as("every published version announced").containsExactlyInAnyOrderElementsOf(published);
            Set<String> shas = new HashSet<>();
            for (ModelRef r : refs) {
                assertThat(shas.add(r.sha256())).isTrue();
            }
            ModelRef v1 = store.find("tiny", 1).orElseThrow();
            await(() -> {
                try {
                    return ModelStore.pruned(v1).isPresent();
                } catch (java.io.IOException e) {
                    return false;
                }
            }, "v1 pruned by the job (--prune-keep 1)");
            assertThat(ModelStore.pruned(v1).orElseThrow().reason()).startsWith("pruned by the fine-tuning job after it"
                    + " published v");
            for (ModelRef r : refs.subList(Math.max(0, refs.size() - 3), refs.size())) {
                assertThat(store.verify(r).version()).as("a version the job promoted keeps its weights")
                        .isEqualTo(r.version());
            }
        }
    }

    /** Fails its task once, on the first frame after a checkpoint completed while a fine-tuning round was running. */
    static final class FailWhileTraining extends RichMapFunction<DecodedFrame, DecodedFrame> implements CheckpointListener {
        static final AtomicBoolean failed = new AtomicBoolean();
        private transient boolean checkpointDuringRound;

        @Override
        public DecodedFrame map(DecodedFrame f) {
            if (checkpointDuringRound && failed.compareAndSet(false, true)) {
                throw new IllegalStateException("injected failure while a round trains, at " + f.frameId());
            }
            return f;
        }

        @Override
        public void notifyCheckpointComplete(long id) {
            checkpointDuringRound = reports.all().isEmpty() && roundRunning();
        }

        private static boolean roundRunning() {
            return Thread.getAllStackTraces().keySet().stream()
                    .anyMatch(t -> t.getName().equals("crmn-finetune-trainer") && t.getState() == Thread.State.RUNNABLE);
        }
    }

    @Test
    void afterAPromotionTheInferenceJobSwapsAndAccuracyGoesUp() throws Exception {
        Configuration o = options("joint");
        String store = dir.resolve("joint-store").toString();
        kafka.createTopic("joint-frames", 2);
        kafka.createTopic("joint-predictions", 2);
        Map<String, String> im = new HashMap<>();
        im.put(InferenceOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers());
        im.put(InferenceOptions.FRAMES_TOPIC.key(), "joint-frames");
        im.put(InferenceOptions.PREDICTIONS_TOPIC.key(), "joint-predictions");
        im.put(InferenceOptions.DEAD_LETTERS_TOPIC.key(), "joint-dead-letters");
        im.put(InferenceOptions.MODEL_UPDATES_TOPIC.key(), "joint-model-updates");
        im.put(InferenceOptions.GROUP_ID.key(), "joint-inference");
        im.put(InferenceOptions.TRANSACTIONAL_ID_PREFIX.key(), "joint-inference");
        im.put(InferenceOptions.STORE.key(), store);
        im.put(InferenceOptions.MODEL_CACHE.key(), dir.resolve("joint-inference-cache").toString());
        im.put(InferenceOptions.MODEL.key(), new ModelStore(store).latest("tiny").orElseThrow().uri());
        im.put(InferenceOptions.PARALLELISM.key(), "1");
        im.put(InferenceOptions.CHECKPOINT_INTERVAL_MS.key(), "500");
        InferenceJob.Plan ip = InferenceJob.plan(Configuration.fromMap(im), Map.of());
        try (LocalJob inference = LocalJob.start(InMemoryMetrics.config(), 1, env -> InferenceJob.build(env, ip),
                ip.jobName()); LocalJob finetune = start(o, new Configuration(), s -> s)) {
            sendCheck("a-");
            double before = accuracy(predictionsOf("a-"));
            send("joint-labelled", 0, 2500, "j-", false);
            await(() -> reports.all().stream().anyMatch(RoundReport::promoted), "a promotion");
            await(() -> InMemoryMetrics.sum("micro-batch inference", "modelSwaps") >= 1, "the inference job's swap");
            sendCheck("b-");
            List<Prediction> after = predictionsOf("b-");
            assertThat(after).allMatch(p -> p.model().version() >= 2);
            System.out.printf("FineTuneJobITCase joint: check-stream accuracy %.3f with v1, %.3f after the swap%n", before,
                    accuracy(after));
            assertThat(accuracy(after)).isGreaterThan(before);
        }
    }

    static void sendCheck(String prefix) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            for (int i = 0; i < check.size(); i++) {
                p.send(FrameRecords.record("joint-frames", null, ImageBytes.png(check.image(i)), ContentType.png(),
                        prefix + i, -1, Integer.toString(check.label(i))));
            }
        }
    }

    static List<Prediction> predictionsOf(String prefix) throws Exception {
        List<Prediction> out = new ArrayList<>();
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (out.size() < check.size() && System.nanoTime() < deadline) {
            out.clear();
            for (ConsumerRecord<byte[], byte[]> r : kafka.read("joint-predictions", Integer.MAX_VALUE)) {
                Prediction p = PredictionJson.fromBytes(r.value());
                if (p.frameId().startsWith(prefix)) {
                    out.add(p);
                }
            }
            Thread.sleep(200); // polling with a deadline
        }
        assertThat(out).hasSize(check.size());
        return out;
    }

    static double accuracy(List<Prediction> preds) {
        return preds.stream().filter(p -> p.top().index() == p.label()).count() / (double) preds.size();
    }
}
