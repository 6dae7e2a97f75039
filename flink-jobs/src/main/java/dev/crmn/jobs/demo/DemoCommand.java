package dev.crmn.jobs.demo;

import dev.crmn.jobs.local.DefaultTopics;
import dev.crmn.jobs.local.EmbeddedKafka;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Topics;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.finetune.FineTuneJob;
import dev.crmn.jobs.finetune.FineTuneOptions;
import dev.crmn.jobs.finetune.FineTuneRounds;
import dev.crmn.jobs.finetune.RoundReport;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.quality.QualityJob;
import dev.crmn.jobs.quality.QualityOptions;
import dev.crmn.jobs.quality.QualityReports;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.model.cli.Progress;
import dev.crmn.model.data.Cifar10Dir;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageSet;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crmn demo}: the whole system on this machine, one command: a Kafka broker, the inference, fine-tuning and
 * quality jobs on Flink MiniClusters, the shipped model in a local store, and CIFAR-10 streamed into it; a live view,
 * and a report folder at the end.
 */
@Command(name = "demo", mixinStandardHelpOptions = true,
        description = {"Run the whole system locally: a Kafka broker, the inference, fine-tuning and quality jobs, the shipped",
                "model, CIFAR-10 test images streamed to 'frames' and data_batch_3/4 to 'frames-labelled'; a live view; a report."})
public final class DemoCommand implements Callable<Integer> {

    @Option(names = "--port", defaultValue = "9092", description = "Kafka port (default: ${DEFAULT-VALUE}; 0 = any free port).")
    int port;

    @Option(names = "--web-ui-port", defaultValue = "8081", description = "Flink web UI of the inference job (default: ${DEFAULT-VALUE}; 0 = none).")
    int webUiPort;

    @Option(names = "--duration", description = "Seconds to run (0 = until Ctrl-C). Default: " + RunLength.USUAL
            + ", and on a machine too slow for the first fine-tuning round to be judged by then, on until "
            + RunLength.AFTER_FIRST_ROUND + " s after it is (so that its version can be served), at most "
            + RunLength.LONGEST + " s.")
    Double duration;

    @Option(names = "--data", description = "CIFAR-10 directory (default: $CRMN_CIFAR10_DIR, data/cifar10 from ./crmn data fetch"
            + " cifar10, ../shared/datasets/cifar10, else the sample shipped in data/cifar10-sample).")
    Path data;

    @Option(names = "--model", defaultValue = "models/crmn-demo-early", description = "Checkpoint to serve first and fine-tune (default: ${DEFAULT-VALUE}, an early snapshot with room to improve in minutes; models/crmn-demo is the fully trained one).")
    Path model;

    @Option(names = "--frames-rate", defaultValue = "100", description = "Test frames per second to 'frames' (default: ${DEFAULT-VALUE}).")
    double framesRate;

    @Option(names = "--labelled-rate", defaultValue = "400", description = "Labelled frames per second (default: ${DEFAULT-VALUE}).")
    double labelledRate;

    @Option(names = "--round-frames", defaultValue = "4000", description = "Fine-tuning: new frames per round (default: ${DEFAULT-VALUE}).")
    int roundFrames;

    @Option(names = "--round-steps", defaultValue = "80", description = "Fine-tuning: steps per round (default: ${DEFAULT-VALUE}).")
    int roundSteps;

    @Option(names = "--learning-rate", defaultValue = "0.02", description = "Fine-tuning: the learner's learning rate (default: ${DEFAULT-VALUE}).")
    double learningRate;

    @Option(names = "--average-decay", defaultValue = "0.99", description = "Fine-tuning: per-step decay of the weight"
            + " average that is each round's candidate (default: ${DEFAULT-VALUE}, shorter than the job's 0.998: the"
            + " demo's rounds are short).")
    double averageDecay;

    @Option(names = "--margin", description = "Fine-tuning: points of holdout accuracy a candidate must gain (default:"
            + " crmn finetune's, 0 with its default paired loss test).")
    Double margin;

    /** A drifted camera for both streams, test and labelled. */
    @picocli.CommandLine.Mixin
    dev.crmn.model.cli.CorruptionOptions drift = new dev.crmn.model.cli.CorruptionOptions();

    @Option(names = "--bad-version-at", defaultValue = "0", description = "Seconds after the start at which the demo"
            + " announces a deliberately broken version (the serving one with its output layer negated) to serve, to"
            + " show the quality job rolling it back (default: 0 = never).")
    double badVersionAt;

    @Option(names = "--shadow", description = "The fine-tuning job announces its promotions as shadows: each is scored"
            + " beside the serving version on the same frames and served, or rejected, by the quality job's paired test"
            + " (docs/rollout.md).")
    boolean shadow;

    @Option(names = "--report-dir", description = "Where the report goes (default: runs/demo-<time>).")
    Path reportDir;

    @Option(names = "--data-dir", description = "Broker data directory (default: a temporary one, deleted at the end).")
    Path dataDir;

    static final long DRAIN_S = 30;

    /**
     * Frames per fine-tuning round: {@code asked}, unless the labelled stream is too short for one round and a
     * holdout (the sample: 1,500 frames), where a round starts once 60 % of it has arrived as training frames, so
     * that the demo still shows a promotion.
     */
    static int roundFrames(int asked, int labelled) {
        return shortStream(asked, labelled) ? Math.max(1, labelled * 3 / 5) : asked;
    }

    /**
     * The share of labelled images kept for the holdout: the job's default (10 %), or 30 % on a short stream, so that
     * the gate's paired test has a few hundred images to decide on (on the sample's 134 a real gain of 8 points was
     * not significant at 0.05; on 216, gains of 6.5 to 9 points gave p = 0.003 to 0.035 across runs).
     */
    static int holdoutPercent(int asked, int labelled) {
        return shortStream(asked, labelled) ? 30 : FineTuneOptions.HOLDOUT_PERCENT.defaultValue();
    }

    private static boolean shortStream(int asked, int labelled) {
        return labelled < asked * 5 / 4;
    }

    /*
     * Both jobs share this JVM's cores, and ND4J's default (every core for each) oversubscribes them. Measured on 2
     * cores (demo defaults): one OpenMP thread each made the first round 95 s, one for inference and two for the
     * trainer 142 s.
     */
    static int inferenceThreads() {
        return Math.max(1, Runtime.getRuntime().availableProcessors() / 4);
    }

    static int trainerThreads() {
        return Math.max(1, Runtime.getRuntime().availableProcessors() - inferenceThreads());
    }

    @Override
    public Integer call() throws Exception {
        RunLength length = duration == null ? RunLength.byDefault() : RunLength.fixed(duration);
        Cifar10Dir cifar = Cifar10Dir.locate(data);
        for (String f : List.of("test_batch.bin", "data_batch_3.bin", "data_batch_4.bin", "data_batch_1.bin")) {
            if (!Files.isRegularFile(cifar.file(f))) {
                throw new java.io.IOException(cifar.dir() + " has no " + f + " (the demo streams test_batch.bin and"
                        + " data_batch_3/4.bin, and keeps data_batch_1.bin's images as the fine-tuning anchor)");
            }
        }
        Path report = reportDir != null ? reportDir
                : Path.of("runs", "demo-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        Files.createDirectories(report);
        dev.crmn.model.data.Corruption corruption = drift.corruption();
        ImageSet test = drift.apply(ImageSet.load(List.of(cifar.file("test_batch.bin")), 0));
        ImageSet labelled = drift.apply(ImageSet.load(List.of(cifar.file("data_batch_3.bin"), cifar.file("data_batch_4.bin")),
                0));
        if (corruption != null) {
            System.out.printf("crmn demo streams a drifted camera: every image with %s (seed %d)%n", corruption, drift.seed());
        }
        int roundFrames = roundFrames(this.roundFrames, labelled.size());
        if (cifar.isSample()) {
            System.out.printf("crmn demo runs on the CIFAR-10 sample shipped in the repository (%d test images, %d labelled"
                    + " ones; a round every %d new frames): ./crmn data fetch cifar10 gets the full set (60,000 images)%n",
                    test.size(), labelled.size(), roundFrames);
        }
        CountDownLatch stopped = new CountDownLatch(1);
        AtomicBoolean stop = new AtomicBoolean();
        CountDownLatch reportWritten = new CountDownLatch(1);
        Thread hook = new Thread(() -> {
            stop.set(true);
            stopped.countDown();
            try {
                reportWritten.await(60, TimeUnit.SECONDS); // Ctrl-C: let the report be written
            } catch (InterruptedException ignored) {
                Thread.currentThread().interrupt();
            }
        }, "crmn-demo-shutdown");
        Runtime.getRuntime().addShutdownHook(hook);
        long start = System.currentTimeMillis();
        try (EmbeddedKafka kafka = EmbeddedKafka.start(port, dataDir, Map.of())) {
            DefaultTopics.create(kafka, 2);
            String store = report.resolve("store").toAbsolutePath().toString();
            ModelRef first = new ModelStore(store).publish(model);
            Configuration web = new Configuration();
            if (webUiPort > 0) {
                web.set(RestOptions.PORT, webUiPort);
            }
            InferenceJob.Plan ip = InferenceJob.plan(Configuration.fromMap(Map.of(
                    InferenceOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers(),
                    InferenceOptions.MODEL.key(), first.uri(), InferenceOptions.STORE.key(), store,
                    InferenceOptions.PARALLELISM.key(), "1", InferenceOptions.CHECKPOINT_INTERVAL_MS.key(), "1000",
                    InferenceOptions.THREADS_PER_SUBTASK.key(), Integer.toString(inferenceThreads()),
                    Checkpointing.CHECKPOINT_DIR.key(), report.resolve("checkpoints").toString())), Map.of());
            Configuration fo = Configuration.fromMap(Map.of(
                    FineTuneOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers(), FineTuneOptions.MODEL.key(), first.name(),
                    FineTuneOptions.STORE.key(), store, FineTuneOptions.ROUND_FRAMES.key(), Integer.toString(roundFrames),
                    FineTuneOptions.ROUND_STEPS.key(), Integer.toString(roundSteps),
                    FineTuneOptions.LEARNING_RATE.key(), Double.toString(learningRate),
                    FineTuneOptions.CHECKPOINT_INTERVAL_MS.key(), "5000",
                    FineTuneOptions.THREADS.key(), Integer.toString(trainerThreads()),
                    Checkpointing.CHECKPOINT_DIR.key(), report.resolve("checkpoints").toString()));
            fo.set(FineTuneOptions.HOLDOUT_PERCENT, holdoutPercent(this.roundFrames, labelled.size()));
            if (margin != null) {
                fo.set(FineTuneOptions.MARGIN, margin);
            }
            fo.set(FineTuneOptions.AVERAGE_DECAY, averageDecay);
            fo.set(FineTuneOptions.SHADOW, shadow);
            // the anchor: clean images of the shipped models' own training data, so that a drifted stream
            // (--corrupt) is learnt without forgetting undrifted images (docs/finetune.md)
            fo.set(FineTuneOptions.ANCHOR, cifar.file("data_batch_1.bin").toString());
            if (corruption == null) {
                // an undrifted stream: the labels alone (the anchor's default distillation would hold the early
                // model back towards its own 52 % predictions)
                fo.set(FineTuneOptions.DISTILLATION, 0.0);
            }
            FineTuneJob.Plan fp = FineTuneJob.plan(fo, Map.of());
            QualityJob.Plan qp = QualityJob.plan(Configuration.fromMap(Map.of(
                    QualityOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers(), QualityOptions.STORE.key(), store,
                    QualityOptions.REPORT_INTERVAL_MS.key(), "2000", QualityOptions.CHECKPOINT_INTERVAL_MS.key(), "1000",
                    Checkpointing.CHECKPOINT_DIR.key(), report.resolve("checkpoints").toString())), Map.of());
            System.out.printf("crmn demo%n  Kafka broker   %s (topics %s)%n  Flink web UI   %s%n  model store    %s (%s)%n"
                            + "  report         %s%n  streaming CIFAR-10 test images to %s at %.0f/s, batches 3-4 to %s at %.0f/s;"
                            + " send your own frames too (docs/wire-format.md). Ctrl-C stops.%n",
                    kafka.bootstrapServers(), String.join(", ", DefaultTopics.NAMES),
                    webUiPort > 0 ? "http://localhost:" + webUiPort : "off", store, first.displayName(), report,
                    Topics.FRAMES, framesRate, Topics.FRAMES_LABELLED, labelledRate);
            DemoObserver observer = new DemoObserver(kafka.bootstrapServers(), Topics.PREDICTIONS, Topics.DEAD_LETTERS,
                    Topics.FRAMES + "-", start);
            Thread observing = new Thread(observer, "crmn-demo-observer");
            AtomicLong sentFrames = new AtomicLong();
            AtomicLong sentLabelled = new AtomicLong();
            FineTuneRounds.Collector reports = FineTuneRounds.collect();
            QualityReports.Collector quality = QualityReports.collect();
            List<DemoReport.Event> events = new java.util.concurrent.CopyOnWriteArrayList<>();
            try (LocalJob inference = LocalJob.start(web, 1, env -> InferenceJob.build(env, ip), ip.jobName());
                 LocalJob finetune = LocalJob.start(1, env -> FineTuneJob.build(env, fp), fp.jobName());
                 LocalJob qualityJob = LocalJob.start(1, env -> QualityJob.build(env, qp), qp.jobName())) {
                observing.start();
                Thread frames = stream(kafka.bootstrapServers(), Topics.FRAMES, test, framesRate, true, stop, sentFrames);
                Thread stream = stream(kafka.bootstrapServers(), Topics.FRAMES_LABELLED, labelled, labelledRate, false, stop,
                        sentLabelled);
                Progress live = new Progress();
                long badAt = badVersionAt > 0 ? start + (long) (badVersionAt * 1000) : Long.MAX_VALUE;
                boolean saidLonger = false;
                while (!stopped.await(2, TimeUnit.SECONDS)) {
                    double elapsed = (System.currentTimeMillis() - start) / 1000.0;
                    double firstJudged = firstJudged(reports.all(), start);
                    if (length.over(elapsed, firstJudged)) {
                        break;
                    }
                    if (!saidLonger && length.waitingForARound(elapsed, firstJudged)) {
                        saidLonger = true;
                        live.note(String.format(java.util.Locale.ROOT, "%4.0fs  no fine-tuning round has been judged yet"
                                + " (this machine trains slowly): going on until %d s after the first one is, at most"
                                + " %d s in all (--duration sets a fixed time)", elapsed, RunLength.AFTER_FIRST_ROUND,
                                RunLength.LONGEST));
                    }
                    if (System.currentTimeMillis() >= badAt) {
                        badAt = Long.MAX_VALUE;
                        ModelRef bad = BrokenVersion.announce(store, first.name(), kafka.bootstrapServers(), Topics.MODEL_UPDATES);
                        events.add(new DemoReport.Event(System.currentTimeMillis() - start, "announced " + bad.displayName()
                                + ": " + BrokenVersion.WHY));
                        live.note(String.format("%4.0fs  announced %s to serve: %s", (System.currentTimeMillis() - start)
                                / 1000.0, bad.displayName(), BrokenVersion.WHY));
                    }
                    live.update(liveLine(observer, reports, quality, sentFrames.get(), sentLabelled.get(), start));
                    for (var d : quality.decisions()) {
                        String text = DemoReport.decision(d);
                        if (events.stream().noneMatch(e -> e.text().equals(text))) {
                            events.add(new DemoReport.Event(d.decision().at() - start, text));
                            live.note(String.format("%4.0fs  %s", (d.decision().at() - start) / 1000.0, text));
                        }
                    }
                }
                live.done(liveLine(observer, reports, quality, sentFrames.get(), sentLabelled.get(), start));
                stop.set(true);
                frames.join();
                stream.join();
                drain(observer, sentFrames.get());
            } finally {
                reports.close();
                quality.close();
                observer.stop();
                observing.join(10_000);
            }
            List<RoundReport> rounds = reports.all();
            Map<String, Object> header = new LinkedHashMap<>();
            header.put("started", java.time.Instant.ofEpochMilli(start).toString());
            header.put("corruption", corruption == null ? null : corruption.toString());
            header.put("duration_s", (System.currentTimeMillis() - start) / 1000.0);
            header.put("broker", kafka.bootstrapServers());
            header.put("store", store);
            header.put("first_model", first.displayName());
            header.put("data", cifar.dir().toString());
            header.put("data_is_sample", cifar.isSample());
            header.put("frames_sent", sentFrames.get());
            header.put("labelled_frames_sent", sentLabelled.get());
            header.put("frames_predicted", observer.ownPredicted());
            header.put("duplicates", observer.duplicates());
            DemoReport.write(report, header, observer.summary(), observer.deadLetters(), rounds, quality.latest(), events,
                    origins(new ModelStore(store), first, observer.summary().versionsFirstSeen().keySet()), start);
            System.out.println("report: " + report.resolve("report.html") + " (numbers in report.json)");
        } finally {
            reportWritten.countDown();
            try {
                Runtime.getRuntime().removeShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) {
                // Ctrl-C: the hook is running
            }
        }
        return 0;
    }

    /**
     * After the producers stop: waits (at most {@link #DRAIN_S} s) until every frame the demo sent has its committed
     * prediction, so the report can say whether each was predicted exactly once. Predictions commit with the
     * inference job's next checkpoint (every second here).
     */
    private static void drain(DemoObserver observer, long sent) throws InterruptedException {
        long deadline = System.nanoTime() + DRAIN_S * 1_000_000_000L;
        if (observer.ownPredicted() < sent) {
            System.out.printf("waiting for the last %d predictions ...%n", sent - observer.ownPredicted());
        }
        while (observer.ownPredicted() < sent && System.nanoTime() < deadline) {
            Thread.sleep(100); // polling what a Kafka consumer has read, with a deadline
        }
        if (observer.ownPredicted() < sent) {
            System.out.printf("%d of %d frames have no committed prediction after %d s%n", sent - observer.ownPredicted(),
                    sent, DRAIN_S);
        }
    }

    /** How each version came to be: the reason of its first status record in the store ("promoted by ..."). */
    private static Map<Long, String> origins(ModelStore store, ModelRef first, java.util.Set<Long> versions)
            throws java.io.IOException {
        Map<Long, String> out = new java.util.TreeMap<>();
        out.put(first.version(), "the first model (" + first.displayName() + ", published by the demo)");
        for (long v : versions) {
            var ref = store.find(first.name(), v);
            if (ref.isPresent() && v != first.version()) {
                var history = store.statusHistory(ref.get());
                out.put(v, history.isEmpty() ? "published" : history.get(0).reason());
            }
        }
        return out;
    }

    /** Seconds from {@code start} to the first round that was judged (promoted or refused, not skipped), else NaN. */
    static double firstJudged(List<RoundReport> rounds, long start) {
        java.util.OptionalLong at = rounds.stream().filter(r -> !"skipped".equals(r.decision()))
                .mapToLong(RoundReport::decidedAt).min();
        return at.isPresent() ? (at.getAsLong() - start) / 1000.0 : Double.NaN;
    }

    /**
     * How long the demo runs: {@link #fixed} seconds ({@code --duration}; 0: until Ctrl-C), or by default {@link #USUAL}
     * seconds, longer on a machine too slow for the first fine-tuning round to be judged by then: until {@link
     * #AFTER_FIRST_ROUND} seconds after it was (its version published and served), at most {@link #LONGEST}. A demo
     * that stopped before any round ended would show nothing of what it is for.
     */
    record RunLength(double seconds, boolean extendable) {

        static final int USUAL = 180;
        static final int AFTER_FIRST_ROUND = 45;
        static final int LONGEST = 600;

        static RunLength fixed(double seconds) {
            LocalJob.checkDuration(seconds);
            return new RunLength(seconds, false);
        }

        static RunLength byDefault() {
            return new RunLength(USUAL, true);
        }

        /** Whether the demo stops at {@code elapsed} seconds, the first round judged at {@code firstJudged} (NaN: not yet). */
        boolean over(double elapsed, double firstJudged) {
            if (seconds == 0 || elapsed < seconds) {
                return false;
            }
            if (!extendable || elapsed >= LONGEST) {
                return true;
            }
            return !Double.isNaN(firstJudged) && elapsed >= firstJudged + AFTER_FIRST_ROUND;
        }

        /** Whether the demo, not over at {@code elapsed} seconds, runs past its usual length for want of a judged round. */
        boolean waitingForARound(double elapsed, double firstJudged) {
            return extendable && elapsed >= seconds && Double.isNaN(firstJudged);
        }
    }

    /**
     * The live line: traffic, latency, each version's live accuracy as the quality job measures it (on the labelled
     * predictions it joined; "rolled back" once it did), and the fine-tuning rounds.
     */
    private static String liveLine(DemoObserver o, FineTuneRounds.Collector reports, QualityReports.Collector quality,
                                   long sent, long labelled, long start) {
        long now = System.currentTimeMillis();
        DemoObserver.Live s = o.live(now);
        StringBuilder acc = new StringBuilder();
        for (var q : quality.latest()) {
            acc.append(q.accuracy() == null ? String.format(" v%d -", q.version())
                    : String.format(" v%d %.1f%% of %d%s", q.version(), 100 * q.accuracy(), q.labelled(),
                    "rolled-back".equals(q.status()) ? " ROLLED BACK" : "shadow".equals(q.status()) ? " (shadow)"
                            : "rejected".equals(q.status()) ? " REJECTED" : ""));
        }
        List<RoundReport> rounds = reports.all();
        long promoted = rounds.stream().filter(RoundReport::promoted).count();
        return String.format("%4.0fs  sent %d  predictions %d (%.0f/s)  p50 %.0f p99 %.0f ms  live accuracy%s  dead %d"
                        + "  labelled %d  rounds %d (promoted %d)", (now - start) / 1000.0, sent, s.predictions(),
                s.perSecond(), s.p50Ms(), s.p99Ms(), acc.length() == 0 ? " -" : acc, o.deadLetters(), labelled,
                rounds.size(), promoted);
    }

    /** Streams a data set to a topic at a rate, labels attached; {@code cycle}: start over at the end. */
    static Thread stream(String bootstrap, String topic, ImageSet set, double rate, boolean cycle,
                                 AtomicBoolean stop, AtomicLong sent) {
        Thread t = new Thread(() -> {
            Properties p = new Properties();
            p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                long begin = System.nanoTime();
                for (long n = 0; !stop.get() && (cycle || n < set.size()); n++) {
                    long wait = begin + (long) (n * 1e9 / rate) - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000)); // pacing, not synchronisation
                    }
                    int i = (int) (n % set.size());
                    producer.send(FrameRecords.record(topic, null, ImageBytes.png(set.image(i)), ContentType.png(),
                            topic + "-" + n, System.currentTimeMillis(), Integer.toString(set.label(i))));
                    sent.incrementAndGet();
                }
            } catch (Exception e) {
                if (!stop.get()) {
                    System.err.println("demo: streaming to " + topic + " stopped: " + e);
                }
            }
        }, "crmn-demo-" + topic);
        t.setDaemon(true);
        t.start();
        return t;
    }
}
