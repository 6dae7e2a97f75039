package dev.crmn.jobs.demo;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Topics;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelCache;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.Retention;
import dev.crmn.connectors.store.VersionTakenException;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.finetune.FineTuneJob;
import dev.crmn.jobs.finetune.FineTuneOptions;
import dev.crmn.jobs.finetune.FineTuneRounds;
import dev.crmn.jobs.finetune.RoundReport;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.jobs.local.DefaultTopics;
import dev.crmn.jobs.local.EmbeddedKafka;
import dev.crmn.jobs.quality.QualityJob;
import dev.crmn.jobs.quality.QualityOptions;
import dev.crmn.jobs.quality.QualityReports;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.Cifar10Dir;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.perf.NativeMemory;
import dev.crmn.model.util.MoreFiles;
import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import java.util.stream.Stream;
import org.apache.flink.api.common.JobID;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.runtime.minicluster.MiniCluster;
import org.apache.flink.runtime.minicluster.MiniClusterConfiguration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.streaming.api.graph.StreamGraph;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crmn soak}: the three jobs for a long time under what weeks bring them, on this machine: frames and labelled
 * frames at a fixed rate, a new model version announced every minute (the inference and fine-tuning jobs load it, the
 * quality job tracks each version's live accuracy), and a TaskManager killed every five minutes (every job fails over
 * from its checkpoints). At the end it says how many predictions were lost or duplicated and how the process's heap,
 * native memory, threads, open files, files on disk and the quality job's state moved between the start and the end:
 * flat is the goal. Not a test (it takes as long as it is told); docs/benchmarks.md holds a run.
 *
 * <p>Everything runs in this JVM: an embedded broker and one Flink MiniCluster with two TaskManagers of two slots
 * (a "TaskManager failure" is {@link MiniCluster#terminateTaskManager}: its tasks die as with a lost process, and a
 * new TaskManager is started), so the memory figures are the whole system's.
 */
@Command(name = "soak", mixinStandardHelpOptions = true,
        description = {"Run the inference, fine-tuning and quality jobs for --minutes at a fixed rate, with a model swap",
                "every minute and a TaskManager failure every five; report lost/duplicated predictions and heap, native",
                "memory, threads, open files, disk and the quality job's state at the start and the end."})
public final class SoakCommand implements Callable<Integer> {

    @Option(names = "--minutes", defaultValue = "10", description = "How long to run (default: ${DEFAULT-VALUE}).")
    double minutes;

    @Option(names = "--frames-rate", defaultValue = "50", description = "Frames per second to 'frames' (default: ${DEFAULT-VALUE}).")
    double framesRate;

    @Option(names = "--labelled-rate", defaultValue = "20", description = "Labelled frames per second (default: ${DEFAULT-VALUE}).")
    double labelledRate;

    @Option(names = "--swap-every", defaultValue = "60", description = "Seconds between announced versions (default: ${DEFAULT-VALUE}).")
    long swapEvery;

    @Option(names = "--fail-every", defaultValue = "300", description = "Seconds between TaskManager failures (default: ${DEFAULT-VALUE}; 0 = none).")
    long failEvery;

    @Option(names = "--warm-up", defaultValue = "60", description = "Seconds before the 'start' sample (default: ${DEFAULT-VALUE}): JIT, first loads, first checkpoints.")
    long warmUp;

    @Option(names = "--sample-every", defaultValue = "30", description = "Seconds between resource samples (default: ${DEFAULT-VALUE}).")
    long sampleEvery;

    @Option(names = "--model", defaultValue = "models/crmn-demo", description = "Checkpoint to serve and fine-tune (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--data", description = "CIFAR-10 directory (as crmn demo; the sample shipped in data/cifar10-sample works).")
    Path data;

    @Option(names = "--work-dir", description = "Broker data, store, checkpoints and temporary files (default: runs/soak-<time>).")
    Path workDir;

    @Option(names = "--prune-keep", defaultValue = "0", description = "After every swap, prune the model store as"
            + " crmn models prune --keep N does (default --keep-served), while the jobs run (default: ${DEFAULT-VALUE} = never).")
    int pruneKeep;

    @Option(names = "--json", description = "Print the report as JSON (also written to <work-dir>/soak.json).")
    boolean json;

    /** One look at the process and its files. */
    /**
     * One look at the process and its files. {@code crmnThreads}: threads of this project's code and its Kafka
     * clients (names with "crmn"); {@code taskManagers}: TaskManagers whose scheduler thread is alive in this JVM
     * (two serve; a terminated MiniCluster TaskManager leaves its scheduler, I/O and Netty server threads behind).
     */
    record Sample(double atS, long heapUsedBytes, long residentBytes, long ndArrayBytes, int threads, int crmnThreads,
                  int taskManagers, long openFiles, int modelCacheEntries, long modelCacheBytes, long checkpointBytes,
                  long qualityStateBytes, long storeBytes, long tmpFiles, long predicted) {
    }

    @Override
    public Integer call() throws Exception {
        if (minutes <= 0 || framesRate <= 0 || labelledRate <= 0 || swapEvery <= 0 || failEvery < 0 || sampleEvery <= 0
                || pruneKeep < 0) {
            throw new IllegalArgumentException("--minutes, the rates, --swap-every and --sample-every must be > 0,"
                    + " --fail-every and --prune-keep >= 0");
        }
        Cifar10Dir cifar = Cifar10Dir.locate(data);
        ImageSet test = ImageSet.load(List.of(cifar.file("test_batch.bin")), 0);
        ImageSet labelled = ImageSet.load(List.of(cifar.file("data_batch_3.bin")), 0);
        Path work = (workDir != null ? workDir
                : Path.of("runs", "soak-" + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"))))
                .toAbsolutePath();
        Files.createDirectories(work);
        Path tmp = Files.createDirectories(work.resolve("tmp"));
        Path checkpoints = work.resolve("checkpoints");
        long start = System.currentTimeMillis();
        long end = start + (long) (minutes * 60_000);
        List<Sample> samples = new ArrayList<>();
        Map<String, Object> report = new LinkedHashMap<>();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong sentFrames = new AtomicLong();
        AtomicLong sentLabelled = new AtomicLong();
        int swaps = 0;
        List<RoundReport> rounds;
        int failures = 0;
        int pruned = 0;
        try (EmbeddedKafka kafka = EmbeddedKafka.start(0, work.resolve("kafka"), Map.of())) {
            DefaultTopics.create(kafka, 2);
            String store = work.resolve("store").toString();
            ModelStore models = new ModelStore(store);
            ModelRef first = models.publish(model);
            Path source = copyOf(first, work.resolve("versions").resolve("source")); // v1 may be pruned meanwhile
            announce(kafka.bootstrapServers(), models, first);
            MiniCluster cluster = cluster(tmp);
            cluster.start();
            DemoObserver observer = new DemoObserver(kafka.bootstrapServers(), Topics.PREDICTIONS, Topics.DEAD_LETTERS,
                    Topics.FRAMES + "-", start);
            Thread observing = new Thread(observer, "crmn-soak-observer");
            FineTuneRounds.Collector reports = FineTuneRounds.collect();
            QualityReports.Collector quality = QualityReports.collect();
            try {
                InferenceJob.Plan ip = inferencePlan(kafka, first, store, checkpoints);
                JobID inference = submit(cluster, env -> InferenceJob.build(env, ip), ip.jobName());
                FineTuneJob.Plan fp = fineTunePlan(kafka, first, store, checkpoints);
                JobID finetune = submit(cluster, env -> FineTuneJob.build(env, fp), fp.jobName());
                QualityJob.Plan qp = qualityPlan(kafka, store, checkpoints);
                JobID qualityJob = submit(cluster, env -> QualityJob.build(env, qp), qp.jobName());
                Path qualityCheckpoints = checkpoints.resolve(qualityJob.toHexString());
                observing.start();
                Thread frames = DemoCommand.stream(kafka.bootstrapServers(), Topics.FRAMES, test, framesRate, true, stop, sentFrames);
                Thread labels = DemoCommand.stream(kafka.bootstrapServers(), Topics.FRAMES_LABELLED, labelled, labelledRate,
                        true, stop, sentLabelled);
                long nextSwap = start + swapEvery * 1000;
                long nextFailure = failEvery > 0 ? start + failEvery * 1000 : Long.MAX_VALUE;
                long nextSample = start;
                while (System.currentTimeMillis() < end) {
                    long now = System.currentTimeMillis();
                    if (now >= nextSample) {
                        samples.add(sample(start, work, tmp, checkpoints, qualityCheckpoints, observer));
                        progress(samples.get(samples.size() - 1), sentFrames.get(), swaps, failures, pruned);
                        nextSample += sampleEvery * 1000;
                    }
                    if (now >= nextSwap) {
                        announce(kafka.bootstrapServers(), models, reversion(models, first, source, work));
                        swaps++;
                        pruned += pruneKeep > 0 ? prune(models, first.name()) : 0;
                        nextSwap += swapEvery * 1000;
                    }
                    if (now >= nextFailure) {
                        cluster.terminateTaskManager(0).get(60, TimeUnit.SECONDS);
                        cluster.startTaskManager();
                        failures++;
                        nextFailure += failEvery * 1000;
                    }
                    Thread.sleep(Math.max(1, Math.min(Math.min(nextSample, nextSwap), Math.min(nextFailure, end))
                            - System.currentTimeMillis())); // pacing the schedule, not synchronisation
                }
                stop.set(true);
                frames.join();
                labels.join();
                long drainDeadline = System.currentTimeMillis() + 120_000;
                while (observer.ownPredicted() < sentFrames.get() && System.currentTimeMillis() < drainDeadline) {
                    Thread.sleep(200); // polling what a Kafka consumer has read, with a deadline
                }
                samples.add(sample(start, work, tmp, checkpoints, qualityCheckpoints, observer));
                report.put("inference_job", status(cluster, inference).toString());
                report.put("finetune_job", status(cluster, finetune).toString());
                report.put("quality_job", status(cluster, qualityJob).toString());
            } finally {
                observer.stop();
                observing.join(10_000);
                cluster.close();
                reports.close();
                rounds = reports.all();
                quality.close();
            }
            long predicted = observer.ownPredicted();
            report.put("minutes", minutes);
            report.put("frames_sent", sentFrames.get());
            report.put("frames_predicted", predicted);
            report.put("lost", Math.max(0, sentFrames.get() - predicted));
            report.put("duplicates", observer.duplicates());
            report.put("dead_letters", observer.deadLetters());
            report.put("labelled_sent", sentLabelled.get());
            report.put("versions_announced", swaps);
            report.put("versions_in_store", models.list(first.name()).size());
            report.put("versions_pruned", pruned);
            report.put("versions_served", observer.summary().versionsFirstSeen().keySet());
            report.put("taskmanager_failures", failures);
            report.put("finetune_rounds", rounds.size());
            report.put("finetune_promotions", rounds.stream().filter(RoundReport::promoted).count());
            report.put("quality_versions_reported", quality.latest().size());
            report.put("quality_decisions", quality.decisions().stream().map(q -> "v" + q.version() + " "
                    + q.decision().action()).toList());
            Sample startSample = samples.stream().filter(s -> s.atS() >= warmUp).findFirst().orElse(samples.get(0));
            report.put("start", startSample);
            report.put("end", samples.get(samples.size() - 1));
            report.put("samples", samples);
        }
        ObjectMapper out = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
        out.writeValue(work.resolve("soak.json").toFile(), report);
        if (json) {
            System.out.println(out.writeValueAsString(report));
        } else {
            print(report);
        }
        boolean clean = (long) report.get("lost") == 0 && (long) report.get("duplicates") == 0
                && "RUNNING".equals(report.get("inference_job")) && "RUNNING".equals(report.get("finetune_job"))
                && "RUNNING".equals(report.get("quality_job"));
        return clean ? 0 : 1;
    }

    private static MiniCluster cluster(Path tmp) {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.TMP_DIRS, tmp.toString()); // the model cache's default place on each TaskManager
        conf.set(RestOptions.BIND_ADDRESS, "127.0.0.1");
        conf.set(RestOptions.PORT, 0);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, Integer.MAX_VALUE);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, java.time.Duration.ofSeconds(1));
        return new MiniCluster(new MiniClusterConfiguration.Builder().setConfiguration(conf).setNumTaskManagers(2)
                .setNumSlotsPerTaskManager(2).build());
    }

    private InferenceJob.Plan inferencePlan(EmbeddedKafka kafka, ModelRef first, String store, Path checkpoints) throws Exception {
        return InferenceJob.plan(Configuration.fromMap(Map.of(
                InferenceOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers(),
                InferenceOptions.MODEL.key(), first.uri(), InferenceOptions.STORE.key(), store,
                InferenceOptions.PARALLELISM.key(), "1", InferenceOptions.CHECKPOINT_INTERVAL_MS.key(), "2000",
                InferenceOptions.THREADS_PER_SUBTASK.key(), Integer.toString(DemoCommand.inferenceThreads()),
                Checkpointing.CHECKPOINT_DIR.key(), checkpoints.toString())), Map.of());
    }

    private FineTuneJob.Plan fineTunePlan(EmbeddedKafka kafka, ModelRef first, String store, Path checkpoints) throws Exception {
        Configuration fo = Configuration.fromMap(Map.of(
                FineTuneOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers(), FineTuneOptions.MODEL.key(), first.name(),
                FineTuneOptions.STORE.key(), store, FineTuneOptions.ROUND_FRAMES.key(), "1000",
                FineTuneOptions.ROUND_STEPS.key(), "30", FineTuneOptions.CHECKPOINT_INTERVAL_MS.key(), "10000",
                FineTuneOptions.RESERVOIR_SIZE.key(), "5000",
                FineTuneOptions.THREADS.key(), Integer.toString(DemoCommand.trainerThreads()),
                Checkpointing.CHECKPOINT_DIR.key(), checkpoints.toString()));
        return FineTuneJob.plan(fo, Map.of());
    }

    private QualityJob.Plan qualityPlan(EmbeddedKafka kafka, String store, Path checkpoints) throws Exception {
        return QualityJob.plan(Configuration.fromMap(Map.of(
                QualityOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers(), QualityOptions.STORE.key(), store,
                QualityOptions.CHECKPOINT_INTERVAL_MS.key(), "2000",
                Checkpointing.CHECKPOINT_DIR.key(), checkpoints.toString())), Map.of());
    }

    /** Builds a job into a fresh environment and submits its graph to the cluster. */
    private static JobID submit(MiniCluster cluster, Consumer<StreamExecutionEnvironment> build, String name) throws Exception {
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment(new Configuration());
        build.accept(env);
        StreamGraph graph = env.getStreamGraph();
        graph.setJobName(name);
        return cluster.submitJob(graph.getJobGraph()).get(60, TimeUnit.SECONDS).getJobID();
    }

    private static JobStatus status(MiniCluster cluster, JobID id) throws Exception {
        return cluster.getJobStatus(id).get(30, TimeUnit.SECONDS);
    }

    /**
     * The served weights under the store's next version number (what a team re-publishing a model does): both jobs
     * load it, and the TaskManagers' caches get an entry per version.
     */
    private static ModelRef reversion(ModelStore store, ModelRef base, Path local, Path work) throws IOException {
        for (int attempt = 0; ; attempt++) {
            long version = store.latest(base.name()).map(ModelRef::version).orElse(base.version()) + 1;
            Path dir = work.resolve("versions").resolve("v" + version);
            MoreFiles.deleteRecursively(dir);
            Files.createDirectories(dir);
            Files.copy(local.resolve(Checkpoints.MODEL), dir.resolve(Checkpoints.MODEL));
            Manifest m = Checkpoints.readManifest(local.resolve(Checkpoints.MANIFEST));
            Checkpoints.writeManifest(dir.resolve(Checkpoints.MANIFEST), m.toBuilder().version(version)
                    .parent(version - 1, null).build());
            try {
                ModelRef ref = store.publish(dir);
                MoreFiles.deleteRecursively(dir);
                return ref;
            } catch (VersionTakenException e) {
                if (attempt >= 10) {
                    throw e; // the fine-tuning job promoted the same number meanwhile: take the next one
                }
            }
        }
    }

    /** A private copy of a published version's manifest and weights in {@code dir}. */
    private static Path copyOf(ModelRef ref, Path dir) throws IOException {
        Path published = Path.of(java.net.URI.create(ref.uri()));
        MoreFiles.deleteRecursively(dir);
        Files.createDirectories(dir);
        for (String f : List.of(Checkpoints.MANIFEST, Checkpoints.MODEL)) {
            Files.copy(published.resolve(f), dir.resolve(f));
        }
        return dir;
    }

    /**
     * Prunes the store as {@code crmn models prune --keep <--prune-keep>} does, under the running jobs.
     *
     * @return the versions pruned
     */
    private int prune(ModelStore store, String name) throws IOException {
        return Retention.prune(store, name, pruneKeep, Retention.DEFAULT_KEEP_SERVED, "crmn soak --prune-keep "
                + pruneKeep).size();
    }

    /** Announces {@code ref} to serve, recording it in the store first, as {@code crmn publish --announce} does. */
    private static void announce(String bootstrap, ModelStore store, ModelRef ref) throws Exception {
        store.recordServing(ref, "announced by crmn soak");
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(ModelRefSerializationSchema.record(Topics.MODEL_UPDATES, ref)).get(30, TimeUnit.SECONDS);
        }
    }

    private static Sample sample(long start, Path work, Path tmp, Path checkpoints, Path qualityCheckpoints,
                                 DemoObserver observer) throws IOException {
        System.gc(); // heap after a collection: what is live, not what is garbage not yet collected
        Path cache = tmp.resolve(ModelCache.DIR_NAME);
        int cacheEntries = 0;
        if (Files.isDirectory(cache)) {
            try (Stream<Path> s = Files.list(cache)) {
                cacheEntries = (int) s.filter(p -> !p.getFileName().toString().startsWith(".")).count();
            }
        }
        long openFiles;
        try (Stream<Path> s = Files.list(Path.of("/proc/self/fd"))) {
            openFiles = s.count();
        } catch (IOException e) {
            openFiles = -1;
        }
        int crmn = 0;
        int taskManagers = 0;
        for (Thread t : Thread.getAllStackTraces().keySet()) {
            crmn += t.getName().contains("crmn") ? 1 : 0;
            taskManagers += t.getName().matches("taskmanager_\\d+-main-scheduler-thread-1") ? 1 : 0;
        }
        return new Sample((System.currentTimeMillis() - start) / 1000.0,
                ManagementFactory.getMemoryMXBean().getHeapMemoryUsage().getUsed(), NativeMemory.residentBytes(),
                NativeMemory.ndArrayBytes(), ManagementFactory.getThreadMXBean().getThreadCount(), crmn, taskManagers,
                openFiles, cacheEntries, bytes(cache), bytes(checkpoints), newestCheckpointBytes(qualityCheckpoints),
                bytes(work.resolve("store")), files(tmp), observer.ownPredicted());
    }

    private static long bytes(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return 0;
        }
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).mapToLong(p -> {
                try {
                    return Files.size(p);
                } catch (IOException gone) {
                    return 0; // removed while walking (a checkpoint subsumed)
                }
            }).sum();
        } catch (java.io.UncheckedIOException gone) {
            return -1;
        }
    }

    /** The size of the newest completed checkpoint ({@code chk-N}) under a job's checkpoint directory; 0 before one. */
    private static long newestCheckpointBytes(Path jobDir) throws IOException {
        if (!Files.isDirectory(jobDir)) {
            return 0;
        }
        try (Stream<Path> s = Files.list(jobDir)) {
            Path newest = s.filter(p -> p.getFileName().toString().matches("chk-\\d+") && Files.exists(p.resolve("_metadata")))
                    .max(java.util.Comparator.comparingLong(p -> Long.parseLong(p.getFileName().toString().substring(4))))
                    .orElse(null);
            return newest == null ? 0 : bytes(newest);
        } catch (java.io.UncheckedIOException gone) {
            return -1; // subsumed while listing
        }
    }

    private static long files(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            return s.filter(Files::isRegularFile).count();
        } catch (java.io.UncheckedIOException gone) {
            return -1;
        }
    }

    private static void progress(Sample s, long sent, int swaps, int failures, int pruned) {
        System.out.printf("%6.0fs  sent %d  predicted %d  swaps %d  TM failures %d  heap %.0f MB  RSS %.0f MB  ND4J %.0f MB"
                        + "  threads %d (crmn %d, TaskManagers %d)  fds %d  cache %d (%.0f MB)  checkpoints %.0f MB"
                        + "  quality state %.1f kB  store %.1f MB (%d pruned)%n",
                s.atS(), sent, s.predicted(), swaps, failures, s.heapUsedBytes() / 1e6, s.residentBytes() / 1e6,
                s.ndArrayBytes() / 1e6, s.threads(), s.crmnThreads(), s.taskManagers(), s.openFiles(),
                s.modelCacheEntries(), s.modelCacheBytes() / 1e6, s.checkpointBytes() / 1e6, s.qualityStateBytes() / 1e3,
                s.storeBytes() / 1e6, pruned);
    }

    private static void print(Map<String, Object> r) {
        Sample a = (Sample) r.get("start");
        Sample b = (Sample) r.get("end");
        System.out.printf("%ncrmn soak: %.0f min, %d frames sent, %d predicted, lost %d, duplicated %d, dead letters %d;"
                        + " %d versions announced, %d TaskManager failures, %d fine-tuning rounds (%d promoted);"
                        + " the quality job reported %d versions, decisions %s; jobs at the end: inference %s, fine-tuning %s,"
                        + " quality %s%n",
                r.get("minutes"), r.get("frames_sent"), r.get("frames_predicted"), r.get("lost"), r.get("duplicates"),
                r.get("dead_letters"), r.get("versions_announced"), r.get("taskmanager_failures"), r.get("finetune_rounds"),
                r.get("finetune_promotions"), r.get("quality_versions_reported"), r.get("quality_decisions"),
                r.get("inference_job"), r.get("finetune_job"), r.get("quality_job"));
        System.out.printf("%-22s %12s %12s%n", "", "start (" + (long) a.atS() + " s)", "end (" + (long) b.atS() + " s)");
        row("heap used (MB)", a.heapUsedBytes() / 1e6, b.heapUsedBytes() / 1e6);
        row("resident (MB)", a.residentBytes() / 1e6, b.residentBytes() / 1e6);
        row("ND4J arrays (MB)", a.ndArrayBytes() / 1e6, b.ndArrayBytes() / 1e6);
        row("threads", a.threads(), b.threads());
        row("… of crmn code", a.crmnThreads(), b.crmnThreads());
        row("TaskManagers alive", a.taskManagers(), b.taskManagers());
        row("open files", a.openFiles(), b.openFiles());
        row("model cache entries", a.modelCacheEntries(), b.modelCacheEntries());
        row("model cache (MB)", a.modelCacheBytes() / 1e6, b.modelCacheBytes() / 1e6);
        row("checkpoints (MB)", a.checkpointBytes() / 1e6, b.checkpointBytes() / 1e6);
        row("quality job state (kB)", a.qualityStateBytes() / 1e3, b.qualityStateBytes() / 1e3);
        row("model store (MB)", a.storeBytes() / 1e6, b.storeBytes() / 1e6);
        row("files in tmp", a.tmpFiles(), b.tmpFiles());
    }

    private static void row(String name, double a, double b) {
        System.out.printf("%-22s %12.1f %12.1f%n", name, a, b);
    }
}
