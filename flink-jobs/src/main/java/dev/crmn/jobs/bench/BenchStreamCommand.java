package dev.crmn.jobs.bench;

import dev.crmn.jobs.local.EmbeddedKafka;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.image.DecoderSettings;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.DecodeFunction;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.cli.CliSupport;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.configuration.Configuration;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crmn bench-stream}: the inference job's throughput and latency against the classifier alone and the
 * per-record pattern, same machine, same run, same model, on a local broker in this JVM (docs/benchmarks.md).
 */
@Command(name = "bench-stream", mixinStandardHelpOptions = true,
        description = {"Benchmark the inference job end to end (Kafka in, decode, batch, infer, transactional Kafka out)",
                "against the classifier alone (raw) and per-record inference (naive), on a local broker in this JVM."})
public final class BenchStreamCommand implements Callable<Integer> {

    @Option(names = "--model", defaultValue = "models/crmn-demo", description = "Checkpoint (default: ${DEFAULT-VALUE}).")
    Path model;

    @Option(names = "--batches", defaultValue = "1,8,32,64", split = ",", description = "Batch sizes (default: ${DEFAULT-VALUE}).")
    int[] batches;

    @Option(names = "--formats", defaultValue = "raw,png", split = ",", description = "Frame formats (default: ${DEFAULT-VALUE}).")
    List<String> formats;

    @Option(names = "--frames", defaultValue = "8000", description = "Frames per throughput run (default: ${DEFAULT-VALUE}).")
    int frames;

    @Option(names = "--steady-frames", defaultValue = "120000", description = "Frames of one long run at the largest"
            + " batch on raw frames, measured once the JIT has settled, as in a long-running job (default:"
            + " ${DEFAULT-VALUE}; 0: none).")
    int steadyFrames;

    @Option(names = "--steady-runs", defaultValue = "3", description = "How many steady-state runs (each with the"
            + " classifier alone right before and after it); the median is reported (default: ${DEFAULT-VALUE}).")
    int steadyRuns;

    @Option(names = "--naive-frames", defaultValue = "600", description = "Frames per naive run (default: ${DEFAULT-VALUE}).")
    int naiveFrames;

    @Option(names = "--engine", defaultValue = "cpu", description = "Inference engine of the job and of raw: cpu,"
            + " cuda, auto or onnxruntime (default: ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--parallelism", defaultValue = "2", description = "Job parallelism (default: ${DEFAULT-VALUE}).")
    int parallelism;

    @Option(names = "--latency-seconds", defaultValue = "8", description = "Seconds per latency run (default: ${DEFAULT-VALUE}).")
    double latencySeconds;

    @Option(names = "--max-delays", defaultValue = "5,20,50", split = ",", description = "Max delays (ms) of the latency sweep at the largest batch (default: ${DEFAULT-VALUE}).")
    long[] maxDelays;

    @Option(names = "--checkpoint-interval-ms", defaultValue = "1000", description = "The job's checkpoint interval (default: ${DEFAULT-VALUE}).")
    long checkpointMs;

    @Option(names = "--only-throughput", hidden = true, description = "Measure only the job's throughput at the batch sizes (diagnosis).")
    boolean onlyThroughput;

    @Option(names = "--only-steady", hidden = true, description = "Measure only the steady state (diagnosis).")
    boolean onlySteady;

    @Option(names = "--flink", hidden = true, description = "A Flink setting KEY=VALUE of the jobs' MiniCluster (diagnosis).")
    Map<String, String> flinkSettings = new HashMap<>();

    @Option(names = "--shadow-runs", defaultValue = "2", description = "Pairs of runs, at the largest batch on raw frames,"
            + " without and with a shadow version scored beside the serving one (default: ${DEFAULT-VALUE}; 0: none).")
    int shadowRuns;

    @Option(names = "--only-shadow", hidden = true, description = "Measure only what a shadow costs (diagnosis).")
    boolean onlyShadow;

    @Option(names = "--sql-runs", defaultValue = "2", description = "Triples of runs, at the largest batch on raw frames:"
            + " the DataStream job, ML_PREDICT with the crmn model provider at the same batch, and at batch-size 1"
            + " (medians; 0 = none; default: ${DEFAULT-VALUE}).")
    int sqlRuns;

    @Option(names = "--only-sql", hidden = true, description = "Measure only the SQL rows (diagnosis).")
    boolean onlySql;

    @Option(names = "--json", description = "Print one JSON document.")
    boolean json;

    private EmbeddedKafka kafka;
    private ImageSet images;
    private Path work;
    private ModelRef ref;
    private int run;
    /** Shares of the CPU during the last throughput run's measured part ({@link ThreadCpu}), or null. */
    private Map<String, Double> lastCpu;

    @Override
    public Integer call() throws Exception {
        work = Files.createTempDirectory("crmn-bench-stream-");
        images = ImageSet.load(List.of(cifarTest()), Math.max(frames, naiveFrames));
        Map<String, Object> doc = new LinkedHashMap<>();
        try (EmbeddedKafka k = EmbeddedKafka.start()) {
            kafka = k;
            ModelStore store = new ModelStore(work.resolve("store").toUri().toString());
            ref = store.publish(model);
            doc.put("model", ref.displayName());
            doc.put("cores", Runtime.getRuntime().availableProcessors());
            doc.put("parallelism", parallelism);
            doc.put("engine", engine);
            doc.put("frames", frames);
            doc.put("decode_us_per_frame", decodeMicros());
            for (String fmt : formats) {
                fill("bench-" + fmt, fmt, 0, frames);
                fill("naive-" + fmt, fmt, 0, naiveFrames);
            }
            int largest = Arrays.stream(batches).max().orElse(64);
            if (onlySteady) {
                if (steadyFrames < 1 || steadyRuns < 1) {
                    throw new IllegalArgumentException("--only-steady needs --steady-frames and --steady-runs >= 1");
                }
                doc.put("steady_state", steadyState(largest));
                progress("steady state " + doc.get("steady_state"));
                return 0;
            }
            if (onlySql) {
                doc.put("sql", sqlCost(largest));
                progress("sql " + doc.get("sql"));
                return 0;
            }
            if (onlyShadow) {
                doc.put("shadow", shadowCost(largest));
                progress("shadow " + doc.get("shadow"));
                return 0;
            }
            if (onlyThroughput) {
                for (int b : batches) {
                    progress("batch " + b + ": job " + round(throughput("bench-" + formats.get(0), frames, 0.4, b, parallelism,
                            0, 50)) + " images/s; CPU shares " + lastCpu);
                }
                return 0;
            }
            List<Map<String, Object>> rows = new ArrayList<>();
            Map<String, Double> naive = new HashMap<>();
            Map<String, Double> perRecordFast = new HashMap<>();
            for (String fmt : formats) {
                naive.put(fmt, perRecordJob("naive-" + fmt, true));
                perRecordFast.put(fmt, perRecordJob("naive-" + fmt, false));
            }
            for (int b : batches) {
                double raw = raw(b, parallelism);
                for (String fmt : formats) {
                    double job = throughput("bench-" + fmt, frames, 0.4, b, parallelism, 0, 50);
                    Map<String, Double> cpu = lastCpu;
                    double[] lat = latency(fmt, b, 20, job / 2, false);
                    Map<String, Object> row = new LinkedHashMap<>();
                    row.put("batch", b);
                    row.put("format", fmt);
                    row.put("raw_images_per_s", round(raw));
                    row.put("job_images_per_s", round(job));
                    row.put("naive_images_per_s", round(naive.get(fmt)));
                    row.put("per_record_fast_images_per_s", round(perRecordFast.get(fmt)));
                    row.put("job_over_raw", round(job / raw));
                    row.put("job_over_naive", round(job / naive.get(fmt)));
                    row.put("p50_ms", round(lat[0]));
                    row.put("p99_ms", round(lat[1]));
                    row.put("latency_rate_per_s", round(job / 2));
                    if (cpu != null) {
                        row.put("job_cpu_shares", cpu);
                    }
                    rows.add(row);
                    progress(row.toString());
                }
            }
            doc.put("results", rows);
            if (steadyFrames > 0 && steadyRuns > 0) {
                doc.put("steady_state", steadyState(largest));
            }
            double p1 = throughput("bench-raw", frames, 0.4, largest, 1, 1, 50);
            double p2 = rows.stream().filter(r -> r.get("batch").equals(largest) && r.get("format").equals("raw"))
                    .mapToDouble(r -> (Double) r.get("job_images_per_s")).findFirst().orElse(Double.NaN);
            doc.put("scaling", Map.of("batch", largest, "parallelism_1_images_per_s", round(p1),
                    "parallelism_2_images_per_s", round(p2), "speedup", round(p2 / p1), "raw_parallelism_1_images_per_s",
                    round(raw(largest, 1))));
            double maxRate = p2;
            List<Map<String, Object>> sweep = new ArrayList<>();
            for (long d : maxDelays) {
                double[] lat = latency("raw", largest, d, maxRate / 2, false);
                sweep.add(Map.of("max_delay_ms", d, "rate_per_s", round(maxRate / 2), "p50_ms", round(lat[0]),
                        "p99_ms", round(lat[1])));
                progress("max delay " + d + " ms: p50 " + round(lat[0]) + " p99 " + round(lat[1]));
            }
            doc.put("latency_vs_max_delay", sweep);
            double[] swap = latency("raw", largest, 20, maxRate / 2, true);
            if (shadowRuns > 0) {
                doc.put("shadow", shadowCost(largest));
            }
            if (sqlRuns > 0) {
                doc.put("sql", sqlCost(largest));
            }
            doc.put("hot_swap", Map.of("rate_per_s", round(maxRate / 2), "largest_gap_around_swap_ms", round(swap[2]),
                    "largest_gap_elsewhere_ms", round(swap[3])));
        } finally {
            dev.crmn.model.util.MoreFiles.deleteQuietly(work);
        }
        if (json) {
            CliSupport.printJson(doc);
        } else {
            print(doc);
        }
        return 0;
    }

    private static Path cifarTest() throws java.io.IOException {
        dev.crmn.model.data.Cifar10Dir d = dev.crmn.model.data.Cifar10Dir.locate(null);
        progress(d.describe());
        return d.file("test_batch.bin");
    }

    private static void progress(String line) {
        System.err.println("bench-stream: " + line);
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    /** Mean microseconds to decode one frame of each format (FrameDecoder, one thread). */
    private Map<String, Double> decodeMicros() throws Exception {
        FrameDecoder d = new FrameDecoder(32, 32, 3, images.classNames(), false, DecoderSettings.defaults());
        Map<String, Double> out = new LinkedHashMap<>();
        for (String fmt : formats) {
            List<Frame> fs = new ArrayList<>();
            for (int i = 0; i < 1000; i++) {
                ProducerRecord<byte[], byte[]> r = record("x", fmt, i);
                String[] keys = new String[]{"content-type"};
                byte[][] vals = new byte[][]{r.headers().lastHeader("content-type").value()};
                fs.add(new Frame("x", 0, i, 0, null, r.value(), keys, vals));
            }
            for (int rep = 0; rep < 5; rep++) {
                for (Frame f : fs) {
                    d.decode(f); // warm-up: the JIT compiles the decoders
                }
            }
            long t0 = System.nanoTime();
            for (int rep = 0; rep < 3; rep++) {
                for (Frame f : fs) {
                    d.decode(f);
                }
            }
            out.put(fmt, round((System.nanoTime() - t0) / 1e3 / (3.0 * fs.size())));
        }
        return out;
    }

    private ProducerRecord<byte[], byte[]> record(String topic, String fmt, int i) throws IOException {
        PixelImage img = images.image(i % images.size());
        byte[] value = fmt.equals("png") ? ImageBytes.png(img) : img.pixels();
        ContentType type = fmt.equals("png") ? ContentType.png()
                : ContentType.raw(ContentType.RawFormat.RGB8, img.width(), img.height());
        return FrameRecords.record(topic, null, value, type, "f-" + i, System.currentTimeMillis(),
                Integer.toString(images.label(i % images.size())));
    }

    private KafkaProducer<byte[], byte[]> producer() {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ProducerConfig.LINGER_MS_CONFIG, "1");
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /** Pre-fills {@code topic} (one partition per subtask) with frames [from, to). */
    private void fill(String topic, String fmt, int from, int to) throws Exception {
        kafka.createTopic(topic, parallelism);
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            for (int i = from; i < to; i++) {
                ProducerRecord<byte[], byte[]> r = record(topic, fmt, i);
                p.send(new ProducerRecord<>(topic, i % parallelism, null, r.key(), r.value(), r.headers()));
            }
        }
    }

    /** The classifier alone on decoded images ({@link #frames} of them): {@code threads} threads, batch {@code b}. */
    private double raw(int b, int threads) throws Exception {
        return raw(b, threads, frames);
    }

    /** The classifier alone on {@code n} decoded images: {@code threads} threads of one OpenMP thread each, batch {@code b}. */
    private double raw(int b, int threads, int n) throws Exception {
        List<PixelImage> all = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            all.add(images.image(i % images.size()));
        }
        int cores = Runtime.getRuntime().availableProcessors();
        long[] elapsed = new long[threads];
        List<Thread> ts = new ArrayList<>();
        for (int t = 0; t < threads; t++) {
            int id = t;
            Thread th = new Thread(() -> {
                dev.crmn.jobs.common.TaskSetup.prepare(Math.max(1, cores / threads), threads, "raw " + id);
                try (Classifier c = Classifier.load(model, dev.crmn.model.infer.ClassifierOptions.of(engine,
                        Math.max(1, cores / threads)))) {
                    List<PixelImage> mine = all.subList(id * all.size() / threads, (id + 1) * all.size() / threads);
                    for (int i = 0; i + b <= Math.min(mine.size(), 20 * b); i += b) {
                        c.probabilities(mine.subList(i, i + b)); // warm-up
                    }
                    long t0 = System.nanoTime();
                    for (int i = 0; i < mine.size(); i += b) {
                        c.probabilities(mine.subList(i, Math.min(mine.size(), i + b)));
                    }
                    elapsed[id] = System.nanoTime() - t0;
                } catch (Exception e) {
                    throw new IllegalStateException(e);
                }
            });
            ts.add(th);
        }
        ts.forEach(Thread::start);
        for (Thread t : ts) {
            t.join();
        }
        return all.size() / (Arrays.stream(elapsed).max().orElse(1) / 1e9);
    }

    private Configuration jobOptions(String framesTopic, String predictions, int b, int p, int threads, long maxDelay) {
        Map<String, String> m = new HashMap<>();
        m.put(InferenceOptions.BOOTSTRAP_SERVERS.key(), kafka.bootstrapServers());
        m.put(InferenceOptions.FRAMES_TOPIC.key(), framesTopic);
        m.put(InferenceOptions.PREDICTIONS_TOPIC.key(), predictions);
        m.put(InferenceOptions.DEAD_LETTERS_TOPIC.key(), predictions + "-dead");
        m.put(InferenceOptions.MODEL_UPDATES_TOPIC.key(), predictions + "-updates");
        m.put(InferenceOptions.GROUP_ID.key(), predictions);
        m.put(InferenceOptions.TRANSACTIONAL_ID_PREFIX.key(), predictions);
        m.put(InferenceOptions.STARTING_OFFSETS.key(), "earliest");
        m.put(InferenceOptions.STORE.key(), work.resolve("store").toString());
        m.put(InferenceOptions.MODEL_CACHE.key(), work.resolve("cache").toString());
        m.put(InferenceOptions.MODEL.key(), ref.uri());
        m.put(InferenceOptions.PARALLELISM.key(), Integer.toString(p));
        m.put(InferenceOptions.THREADS_PER_SUBTASK.key(), Integer.toString(threads));
        m.put(InferenceOptions.ENGINE.key(), engine);
        m.put(InferenceOptions.CHECKPOINT_INTERVAL_MS.key(), Long.toString(checkpointMs));
        m.put(InferenceOptions.BATCH_SIZE.key(), Integer.toString(b));
        m.put(InferenceOptions.MAX_DELAY_MS.key(), Long.toString(maxDelay));
        return Configuration.fromMap(m);
    }

    private String topics(String predictions) throws IOException {
        kafka.createTopic(predictions, parallelism);
        kafka.createTopic(predictions + "-dead", 1);
        kafka.createTopic(predictions + "-updates", 1, Map.of("cleanup.policy", "compact"));
        return predictions;
    }

    /**
     * Images/s of the job over the {@code n} frames of a pre-filled topic, after the first {@code skip} of them
     * ({@link #rate}); {@link #lastCpu} gets the shares of the CPU over the same part of the run (snapshots taken every
     * half second while the predictions are read; the pair that lies inside the rate's window).
     */
    private double throughput(String topic, int n, double skip, int b, int p, int threads, long maxDelay) throws Exception {
        return throughput(topic, n, skip, b, p, threads, maxDelay, false);
    }

    /**
     * What a shadow costs: {@link #shadowRuns} pairs of throughput runs at batch {@code b} on raw frames, one without
     * and one with a shadow version (the same weights published as the next version, announced as a shadow before
     * the job starts: every batch is classified twice, its shadow predictions written to their own topic). The
     * medians of each, side by side.
     */
    private Map<String, Object> shadowCost(int b) throws Exception {
        List<Double> without = new ArrayList<>();
        List<Double> with = new ArrayList<>();
        for (int i = 0; i < shadowRuns; i++) {
            without.add(throughput("bench-raw", frames, 0.4, b, parallelism, 0, 50, false));
            with.add(throughput("bench-raw", frames, 0.4, b, parallelism, 0, 50, true));
            progress("shadow run " + (i + 1) + " of " + shadowRuns + ": " + round(without.get(i)) + " images/s without,"
                    + " " + round(with.get(i)) + " with a shadow");
        }
        double w0 = median(without);
        double w1 = median(with);
        return Map.of("batch", b, "format", "raw", "runs", shadowRuns, "without_shadow_images_per_s", round(w0),
                "with_shadow_images_per_s", round(w1), "with_over_without", round(w1 / w0));
    }

    /**
     * The SQL path against the DataStream job: {@link #sqlRuns} triples of throughput runs on the same raw frames at
     * the same parallelism, each a new MiniCluster: the inference job at batch {@code b}; {@code ML_PREDICT} with the
     * crmn provider at batch-size {@code b}; and at batch-size 1 (one row a batch: what batching buys). Medians, side
     * by side, with their ratios.
     */
    private Map<String, Object> sqlCost(int b) throws Exception {
        List<Double> job = new ArrayList<>();
        List<Double> sql = new ArrayList<>();
        List<Double> sqlOne = new ArrayList<>();
        for (int i = 0; i < sqlRuns; i++) {
            job.add(throughput("bench-raw", frames, 0.4, b, parallelism, 0, 50));
            sql.add(sqlThroughput("bench-raw", frames, b));
            sqlOne.add(sqlThroughput("bench-raw", frames, 1));
            progress("sql run " + (i + 1) + " of " + sqlRuns + ": job " + round(job.get(i)) + ", ML_PREDICT batch " + b
                    + " " + round(sql.get(i)) + ", ML_PREDICT batch 1 " + round(sqlOne.get(i)) + " images/s");
        }
        double j = median(job);
        double s = median(sql);
        double one = median(sqlOne);
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("batch", b);
        m.put("format", "raw");
        m.put("runs", sqlRuns);
        m.put("job_images_per_s", round(j));
        m.put("sql_images_per_s", round(s));
        m.put("sql_batch_1_images_per_s", round(one));
        m.put("sql_over_job", round(s / j));
        m.put("sql_over_sql_batch_1", round(s / one));
        return m;
    }

    /**
     * Images/s of {@code ML_PREDICT} over the {@code n} raw frames of {@code topic} (their content type from the
     * record's header), predictions to a Kafka topic exactly once, as docs/sql.md's example; rated as
     * {@link #rate} over the output records' timestamps (the time each prediction was produced).
     */
    private double sqlThroughput(String topic, int n, int b) throws Exception {
        String out = "sql-" + (run++);
        kafka.createTopic(out, parallelism);
        Configuration conf = new Configuration();
        conf.set(org.apache.flink.configuration.CoreOptions.DEFAULT_PARALLELISM, parallelism);
        conf.set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofMillis(checkpointMs));
        flinkSettings.forEach(conf::setString);
        var env = org.apache.flink.streaming.api.environment.StreamExecutionEnvironment.createLocalEnvironment(conf);
        var tables = org.apache.flink.table.api.bridge.java.StreamTableEnvironment.create(env);
        tables.getConfig().set(org.apache.flink.table.api.config.ExecutionConfigOptions
                .TABLE_EXEC_ASYNC_ML_PREDICT_MAX_CONCURRENT_OPERATIONS, dev.crmn.jobs.cli.SqlCommand.DEFAULT_MAX_CONCURRENT_OPERATIONS);
        String kafkaOptions = "'properties.bootstrap.servers' = '" + kafka.bootstrapServers() + "'";
        tables.executeSql("CREATE TABLE frames (image BYTES, headers MAP<STRING, BYTES> METADATA) WITH ('connector' = 'kafka',"
                + " 'topic' = '" + topic + "', " + kafkaOptions + ", 'scan.startup.mode' = 'earliest-offset', 'format' = 'raw')");
        tables.executeSql("CREATE TABLE predictions (frame_id STRING, label STRING, probability FLOAT, model_version INT)"
                + " WITH ('connector' = 'kafka', 'topic' = '" + out + "', " + kafkaOptions + ", 'format' = 'json',"
                + " 'sink.delivery-guarantee' = 'exactly-once', 'sink.transactional-id-prefix' = '" + out + "',"
                + " 'properties.transaction.timeout.ms' = '900000')");
        tables.executeSql("CREATE MODEL m INPUT (image BYTES, content_type STRING) OUTPUT (label STRING, probability FLOAT,"
                + " model_version INT) WITH ('provider' = 'crmn', 'model' = '" + ref.uri() + "', 'store' = '"
                + work.resolve("store") + "', 'engine' = '" + engine + "', 'batch-size' = '" + b + "', 'max-delay-ms' = '50')");
        tables.executeSql("CREATE TEMPORARY VIEW typed AS SELECT image, CAST(headers['content-type'] AS STRING) AS"
                + " content_type, CAST(headers['frame-id'] AS STRING) AS frame_id FROM frames");
        org.apache.flink.core.execution.JobClient client = tables.executeSql("INSERT INTO predictions SELECT frame_id, label,"
                + " probability, model_version FROM ML_PREDICT(TABLE typed, MODEL m, DESCRIPTOR(image, content_type))")
                .getJobClient().orElseThrow();
        try {
            long[] t = awaitTimestamps(out, n, Duration.ofMinutes(10));
            long[] window = {t[(int) (t.length * 0.4)], t[t.length - 1]};
            return rate(t.length, 0.4, window);
        } finally {
            client.cancel().get(1, java.util.concurrent.TimeUnit.MINUTES);
        }
    }

    /** The timestamps of the first {@code n} committed records of {@code topic}, sorted. */
    private long[] awaitTimestamps(String topic, int n, Duration timeout) throws IOException {
        return awaitRecords(topic, n, timeout, count -> { }).stream().mapToLong(ConsumerRecord::timestamp).sorted().toArray();
    }

    private static double median(List<Double> xs) {
        List<Double> s = new ArrayList<>(xs);
        java.util.Collections.sort(s);
        return s.size() % 2 == 1 ? s.get(s.size() / 2) : (s.get(s.size() / 2 - 1) + s.get(s.size() / 2)) / 2;
    }

    /** The shadow version of {@link #shadowCost}: the benchmark's model published again as the next version. */
    private ModelRef shadowVersion() throws Exception {
        ModelStore store = new ModelStore(work.resolve("store").toUri().toString());
        java.util.Optional<ModelRef> existing = store.find(ref.name(), ref.version() + 1);
        if (existing.isPresent()) {
            return existing.get();
        }
        Path copy = Files.createDirectories(work.resolve("shadow-v" + (ref.version() + 1)));
        Path local = store.fetch(ref, work.resolve("cache"));
        Files.copy(local.resolve(dev.crmn.model.checkpoint.Checkpoints.MODEL), copy.resolve(
                dev.crmn.model.checkpoint.Checkpoints.MODEL));
        dev.crmn.model.checkpoint.Checkpoints.writeManifest(copy.resolve(dev.crmn.model.checkpoint.Checkpoints.MANIFEST),
                dev.crmn.model.checkpoint.Checkpoints.readManifest(local.resolve(dev.crmn.model.checkpoint.Checkpoints.MANIFEST))
                        .toBuilder().version(ref.version() + 1).build());
        return store.publish(copy);
    }

    private double throughput(String topic, int n, double skip, int b, int p, int threads, long maxDelay, boolean shadow)
            throws Exception {
        String out = topics("pred-" + (run++));
        Configuration options = jobOptions(topic, out, b, p, threads, maxDelay);
        if (shadow) {
            kafka.createTopic(out + "-shadow", parallelism);
            options.set(InferenceOptions.SHADOW_PREDICTIONS_TOPIC, out + "-shadow");
            try (org.apache.kafka.clients.producer.KafkaProducer<byte[], byte[]> producer = new org.apache.kafka.clients
                    .producer.KafkaProducer<>(Map.of("bootstrap.servers", kafka.bootstrapServers()),
                    new org.apache.kafka.common.serialization.ByteArraySerializer(),
                    new org.apache.kafka.common.serialization.ByteArraySerializer())) {
                producer.send(dev.crmn.connectors.kafka.ModelRefSerializationSchema.record(out + "-updates",
                        dev.crmn.connectors.format.ModelUpdate.shadow(shadowVersion(), "bench-stream"))).get();
            }
        }
        InferenceJob.Plan plan = InferenceJob.plan(options, Map.of());
        try (LocalJob job = LocalJob.start(Configuration.fromMap(flinkSettings), p, env -> InferenceJob.build(env, plan),
                "bench " + topic)) {
            List<ThreadCpu.Snapshot> cpu = new ArrayList<>();
            List<Prediction> preds = await(out, n, Duration.ofMinutes(10), sampler(cpu));
            long[] t = window(preds, skip);
            lastCpu = ThreadCpu.shares(cpu, t[0], t[1], Runtime.getRuntime().availableProcessors());
            return rate(preds.size(), skip, t);
        }
    }

    /**
     * {@link #steadyRuns} long runs at batch {@code b} on raw frames, each rated over its last 40 % instead of 60 %:
     * every run starts a new MiniCluster, whose freshly loaded classes keep the JIT compiler busy for the first
     * minute or so of a job (a fifth to a quarter of these 2 cores in the 8,000-frame runs), which a job that runs for
     * weeks pays once. The classifier alone at the same batch is measured on 32,000 images right before and right
     * after each (their mean is that run's reference). The run with the median job/raw ratio is reported, with the CPU
     * shares of its measured part, and every run's figures under {@code runs}.
     */
    private Map<String, Object> steadyState(int b) throws Exception {
        fill("bench-steady", "raw", 0, steadyFrames);
        List<Map<String, Object>> runs = new ArrayList<>();
        for (int i = 0; i < steadyRuns; i++) {
            double before = raw(b, parallelism, 32_000);
            double job = throughput("bench-steady", steadyFrames, 0.6, b, parallelism, 0, 50);
            Map<String, Double> cpu = lastCpu;
            double after = raw(b, parallelism, 32_000);
            double raw = (before + after) / 2;
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("batch", b);
            m.put("format", "raw");
            m.put("frames", steadyFrames);
            m.put("job_images_per_s", round(job));
            m.put("raw_images_per_s", round(raw));
            m.put("raw_before_after_images_per_s", List.of(round(before), round(after)));
            m.put("job_over_raw", round(job / raw));
            if (cpu != null) {
                m.put("job_cpu_shares", cpu);
            }
            progress("steady state, run " + (i + 1) + " of " + steadyRuns + ": " + m);
            runs.add(m);
        }
        List<Map<String, Object>> byRatio = new ArrayList<>(runs);
        byRatio.sort(java.util.Comparator.comparingDouble(m -> (Double) m.get("job_over_raw")));
        Map<String, Object> median = new LinkedHashMap<>(byRatio.get((byRatio.size() - 1) / 2));
        median.put("runs", runs.stream().map(m -> Map.of("job_images_per_s", m.get("job_images_per_s"),
                "raw_images_per_s", m.get("raw_images_per_s"), "job_over_raw", m.get("job_over_raw"))).toList());
        return median;
    }

    /**
     * Takes a {@link ThreadCpu} snapshot into {@code series} at most every half second (Linux only; one costs ~9 ms of
     * a core with the ~300 threads of a job, broker and benchmark: ~1 % of the machine, counted in "other").
     */
    private static java.util.function.IntConsumer sampler(List<ThreadCpu.Snapshot> series) {
        boolean on = ThreadCpu.available();
        return count -> {
            if (on && (series.isEmpty() || System.currentTimeMillis() - series.get(series.size() - 1).wallMillis() >= 500)) {
                series.add(ThreadCpu.snapshot());
            }
        };
    }

    /** Images/s of the per-record pattern ({@code plain}: DL4J's ComputationGraph.output(); else the serving network). */
    private double perRecordJob(String topic, boolean plain) throws Exception {
        String out = topics("pred-" + (run++));
        InferenceJob.Plan plan = InferenceJob.plan(jobOptions(topic, out, 1, parallelism, 0, 0), Map.of());
        Path local = new ModelStore(work.resolve("store").toUri().toString()).fetch(ref, work.resolve("cache"));
        try (LocalJob job = LocalJob.start(parallelism, env -> {
            var decoded = InferenceJob.decodedFrames(env, plan);
            // no instance lock in this graph: its topics are the benchmark's own
            InferenceJob.sinks(plan, dev.crmn.connectors.kafka.SinkGate.OPEN, decoded.map(new PerRecordInference(local, ref, plain))
                    .returns(TypeInformation.of(Prediction.class)).name(plain ? "naive per-record" : "per-record fast"),
                    decoded.getSideOutput(DecodeFunction.DEAD_LETTERS));
        }, "bench naive " + topic)) {
            double r = rate(await(out, naiveFrames, Duration.ofMinutes(10), count -> { }), 0.4);
            progress((plain ? "naive" : "per-record fast path") + " " + topic + ": " + round(r) + " images/s");
            return r;
        }
    }

    /**
     * Latency (end to end, from the frame's record timestamp to its prediction) at a fixed rate: p50, p99; and,
     * with {@code swap}, the largest gap between consecutive predictions of a subtask around a model swap and
     * elsewhere.
     */
    private double[] latency(String fmt, int b, long maxDelay, double rate, boolean swap) throws Exception {
        String in = "lat-in-" + run;
        String out = topics("pred-" + (run++));
        kafka.createTopic(in, parallelism);
        InferenceJob.Plan plan = InferenceJob.plan(jobOptions(in, out, b, parallelism, 0, maxDelay), Map.of());
        int n = (int) (rate * latencySeconds);
        AtomicBoolean announced = new AtomicBoolean();
        try (LocalJob job = LocalJob.start(parallelism, env -> InferenceJob.build(env, plan), "bench latency")) {
            Thread.sleep(3000); // the job is up (a wall-clock pause before a timed run, not synchronisation)
            try (KafkaProducer<byte[], byte[]> p = producer()) {
                long start = System.nanoTime();
                for (int i = 0; i < n; i++) {
                    long due = start + (long) (i * 1e9 / rate);
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000)); // pacing, not synchronisation
                    }
                    ProducerRecord<byte[], byte[]> r = record(in, fmt, i);
                    p.send(new ProducerRecord<>(in, i % parallelism, null, r.key(), r.value(), r.headers()));
                    if (swap && i == n / 2 && announced.compareAndSet(false, true)) {
                        p.send(ModelRefSerializationSchema.record(out + "-updates", fineTuned()));
                    }
                }
            }
            List<Prediction> preds = await(out, n, Duration.ofMinutes(5), count -> { });
            double[] lat = preds.stream().mapToDouble(x -> x.timings().endToEnd()).sorted().toArray();
            double[] gaps = swap ? gaps(preds) : new double[]{Double.NaN, Double.NaN};
            return new double[]{lat[lat.length / 2], lat[(int) Math.min(lat.length - 1, Math.ceil(0.99 * lat.length) - 1)],
                    gaps[0], gaps[1]};
        }
    }

    private ModelRef fineTuned;

    /** A version 2 of the model (a few fine-tuning steps), published once. */
    private ModelRef fineTuned() throws Exception {
        if (fineTuned == null) {
            Checkpoints.Loaded base = Checkpoints.load(model, true);
            try (FineTuning ft = FineTuning.start(base.manifest(), base.network(), images,
                    FineTuneSettings.builder().steps(2).batchSize(32).build())) {
                ft.run(2, () -> false);
                try (FineTuning.Candidate c = ft.finish(null, Map.of())) {
                    Path v2 = work.resolve("v2");
                    Checkpoints.write(v2, c.network(), c.manifest(ref.version() + 1));
                    fineTuned = new ModelStore(work.resolve("store").toUri().toString()).publish(v2);
                }
            } finally {
                dev.crmn.model.graph.Graphs.free(base.network());
            }
        }
        return fineTuned;
    }

    /** Per partition in offset order: the largest gap between consecutive predictions around the version switch, and elsewhere. */
    private static double[] gaps(List<Prediction> preds) {
        Map<Integer, TreeMap<Long, Prediction>> parts = new HashMap<>();
        for (Prediction p : preds) {
            parts.computeIfAbsent(p.source().partition(), k -> new TreeMap<>()).put(p.source().offset(), p);
        }
        double around = 0, elsewhere = 0;
        for (TreeMap<Long, Prediction> part : parts.values()) {
            List<Prediction> ordered = new ArrayList<>(part.values());
            int sw = -1;
            for (int i = 1; i < ordered.size(); i++) {
                if (ordered.get(i).model().version() != ordered.get(i - 1).model().version()) {
                    sw = i;
                }
            }
            for (int i = 1; i < ordered.size(); i++) {
                double g = ordered.get(i).producedAt() - ordered.get(i - 1).producedAt();
                if (sw > 0 && Math.abs(i - sw) <= 10) {
                    around = Math.max(around, g);
                } else {
                    elsewhere = Math.max(elsewhere, g);
                }
            }
        }
        return new double[]{around, elsewhere};
    }

    /**
     * Predictions per second after the first {@code skip} of a run's predictions (by production time; 0.4 for the
     * table's runs): the first part of every run pays for the new job's start (JIT compilation of its code, oneDNN's
     * first kernels), which a long-running job does not.
     */
    private static double rate(List<Prediction> preds, double skip) {
        return rate(preds.size(), skip, window(preds, skip));
    }

    /** {@link #rate} of {@code n} predictions whose {@link #window} is {@code t}. */
    private static double rate(int n, double skip, long[] t) {
        return (n - 1 - (int) (n * skip)) / Math.max(1e-3, (t[1] - t[0]) / 1000.0);
    }

    /** The production times (wall clock, ms) that bound {@link #rate}'s window. */
    private static long[] window(List<Prediction> preds, double skip) {
        long[] t = preds.stream().mapToLong(Prediction::producedAt).sorted().toArray();
        return new long[]{t[(int) (t.length * skip)], t[t.length - 1]};
    }

    /** The committed predictions of {@code topic}, once there are {@code n}; {@code progress} sees the count after each poll. */
    private List<Prediction> await(String topic, int n, Duration timeout, java.util.function.IntConsumer progress)
            throws IOException {
        // parsed once the run is over: parsing each prediction as it arrives took 1.2-1.6 % of the machine from the job
        List<ConsumerRecord<byte[], byte[]>> records = awaitRecords(topic, n, timeout, progress);
        List<Prediction> out = new ArrayList<>(records.size());
        for (ConsumerRecord<byte[], byte[]> r : records) {
            out.add(PredictionJson.fromBytes(r.value()));
        }
        return out;
    }

    /** The committed records of {@code topic}, once there are {@code n}; {@code progress} sees the count after each poll. */
    private List<ConsumerRecord<byte[], byte[]>> awaitRecords(String topic, int n, Duration timeout,
                                                              java.util.function.IntConsumer progress) throws IOException {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        List<ConsumerRecord<byte[], byte[]>> records = new ArrayList<>();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
            c.assign(parts);
            c.seekToBeginning(parts);
            long deadline = System.nanoTime() + timeout.toNanos();
            while (records.size() < n && System.nanoTime() < deadline) {
                c.poll(Duration.ofMillis(200)).forEach(records::add);
                progress.accept(records.size());
            }
        }
        if (records.size() < n) {
            throw new IOException("only " + records.size() + " of " + n + " predictions on " + topic + " within " + timeout);
        }
        return records;
    }

    @SuppressWarnings("unchecked")
    private static void print(Map<String, Object> doc) {
        System.out.printf("%s, %s cores, parallelism %s, %s frames per run; decode us/frame %s%n%n", doc.get("model"),
                doc.get("cores"), doc.get("parallelism"), doc.get("frames"), doc.get("decode_us_per_frame"));
        System.out.printf("%6s %7s %10s %10s %10s %12s %8s %9s %9s %9s%n", "batch", "format", "raw img/s", "job img/s",
                "naive", "per-rec fast", "job/raw", "job/naive", "p50 ms", "p99 ms");
        for (Map<String, Object> r : (List<Map<String, Object>>) doc.get("results")) {
            System.out.printf("%6s %7s %10s %10s %10s %12s %8s %9s %9s %9s%n", r.get("batch"), r.get("format"),
                    r.get("raw_images_per_s"), r.get("job_images_per_s"), r.get("naive_images_per_s"),
                    r.get("per_record_fast_images_per_s"), r.get("job_over_raw"), r.get("job_over_naive"), r.get("p50_ms"),
                    r.get("p99_ms"));
        }
        for (Map<String, Object> r : (List<Map<String, Object>>) doc.get("results")) {
            if (r.containsKey("job_cpu_shares")) {
                System.out.printf("CPU shares of the job run, batch %s %s: %s%n", r.get("batch"), r.get("format"),
                        r.get("job_cpu_shares"));
            }
        }
        if (doc.containsKey("steady_state")) {
            System.out.println("\nsteady state " + doc.get("steady_state"));
        }
        System.out.println("\nscaling " + doc.get("scaling"));
        System.out.println("latency vs max delay " + doc.get("latency_vs_max_delay"));
        System.out.println("hot swap " + doc.get("hot_swap"));
        if (doc.containsKey("shadow")) {
            System.out.println("shadow " + doc.get("shadow"));
        }
        if (doc.containsKey("sql")) {
            System.out.println("sql " + doc.get("sql"));
        }
    }
}
