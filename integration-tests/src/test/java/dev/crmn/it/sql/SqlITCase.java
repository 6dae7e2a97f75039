package dev.crmn.it.sql;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.it.testutil.ModelVersions;
import dev.crmn.jobs.testutil.Cli;
import dev.crmn.model.data.CifarBinaryReader;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.LabelledImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import org.apache.flink.table.functions.ScalarFunction;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The crmn model provider from SQL, as a user runs it: the documented example (docs/sql/example.sql, shown in
 * docs/sql.md) through {@code crmn sql} in a JVM of its own from the repository root, checked with a plain Kafka
 * consumer; every frame predicted once across a failure injected while rows are in flight; and {@code follow}
 * swapping to a version announced on a model-updates topic while the query runs.
 */
class SqlITCase {

    static final Path ROOT = Path.of("..").toAbsolutePath().normalize();
    static final Path EXAMPLE = ROOT.resolve("docs").resolve("sql").resolve("example.sql");
    static final Path SAMPLE = ROOT.resolve("data").resolve("cifar10-sample").resolve("test_batch.bin");
    static final ObjectMapper JSON = new ObjectMapper();

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

    /** {@code n} labelled test images as PNG frames with frame ids {@code prefix-i}, then {@code junk} unreadable ones. */
    static Map<String, Integer> produce(String topic, String prefix, int from, int n, int junk) throws Exception {
        Map<String, Integer> labels = new HashMap<>();
        try (CifarBinaryReader r = CifarBinaryReader.open(SAMPLE, CifarBinaryReader.CifarFormat.CIFAR10);
             KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            int i = 0;
            while (r.hasNext() && i < from + n) {
                LabelledImage li = r.next();
                if (i >= from) {
                    String id = prefix + "-" + i;
                    labels.put(id, li.label());
                    send(p, topic, id, ImageBytes.png(li.image()));
                }
                i++;
            }
            for (int j = 0; j < junk; j++) {
                String id = prefix + "-junk-" + j;
                labels.put(id, -1);
                send(p, topic, id, ("not an image " + j).getBytes(StandardCharsets.UTF_8));
            }
            p.flush();
        }
        return labels;
    }

    /** A frame keyed and headed by its id, no content type (PNG is recognised by its bytes). */
    static void send(KafkaProducer<byte[], byte[]> p, String topic, String id, byte[] value) {
        p.send(FrameRecords.record(topic, id, value, (String) null, id, -1, null));
    }

    static List<JsonNode> json(List<ConsumerRecord<byte[], byte[]>> records) throws IOException {
        List<JsonNode> out = new ArrayList<>();
        for (ConsumerRecord<byte[], byte[]> r : records) {
            out.add(JSON.readTree(r.value()));
        }
        return out;
    }

    /** Every frame exactly once; good ones with a label and the version, junk with NULLs and the reason. */
    static Map<String, JsonNode> checkOncePerFrame(List<JsonNode> predictions, Map<String, Integer> sent) {
        Map<String, JsonNode> byId = new HashMap<>();
        for (JsonNode j : predictions) {
            assertThat(byId.put(j.get("frame_id").asText(), j)).as("predicted twice: " + j).isNull();
        }
        assertThat(byId.keySet()).isEqualTo(sent.keySet());
        int correct = 0;
        int good = 0;
        for (Map.Entry<String, Integer> e : sent.entrySet()) {
            JsonNode j = byId.get(e.getKey());
            if (e.getValue() < 0) {
                assertThat(j.get("label").isNull()).isTrue();
                assertThat(j.get("error").asText()).startsWith("unknown-content-type:");
                continue;
            }
            good++;
            assertThat(j.get("error").isNull()).as(j.toString()).isTrue();
            if (j.get("class_index").asInt() == e.getValue()) {
                correct++;
            }
        }
        assertThat(correct / (double) good).as("the shipped model is ~80 % right on test images").isGreaterThan(0.7);
        return byId;
    }

    @Test
    void theDocumentedExampleRunsAsWrittenThroughCrmnSqlInItsOwnProcess() throws Exception {
        String script = Files.readString(EXAMPLE);
        assertThat(Files.readString(ROOT.resolve("docs").resolve("sql.md")))
                .as("docs/sql.md shows the example as it is").contains(script.strip());
        kafka.createTopic("frames", 2);
        kafka.createTopic("sql-predictions", 2);
        kafka.createTopic("sql-label-counts", 1);
        Map<String, Integer> sent = produce("frames", "doc", 0, 300, 3);

        String out = crmnSqlInItsOwnProcess("first");
        assertThat(out).contains("finished: EXECUTE STATEMENT SET");
        Map<String, JsonNode> byId = checkOncePerFrame(json(kafka.read("sql-predictions", sent.size(), "read_committed")),
                sent);
        assertThat(byId.values()).filteredOn(j -> j.get("error").isNull())
                .allSatisfy(j -> assertThat(j.get("model_version").asInt()).isEqualTo(1));
        // the windowed count over the same predictions: every labelled frame in exactly one window
        Map<String, Integer> predictedPerLabel = new HashMap<>();
        byId.values().stream().filter(j -> !j.get("label").isNull())
                .forEach(j -> predictedPerLabel.merge(j.get("label").asText(), 1, Integer::sum));
        Map<String, Integer> counted = new HashMap<>();
        List<ConsumerRecord<byte[], byte[]>> windows = kafka.read("sql-label-counts", predictedPerLabel.size(), "read_committed");
        for (JsonNode w : json(windows)) {
            counted.merge(w.get("label").asText(), w.get("frames").asInt(), Integer::sum);
        }
        assertThat(counted).isEqualTo(predictedPerLabel);

        // run again: the group's committed offsets say where it stopped; only frames sent since are classified
        crmnSqlInItsOwnProcess("again, nothing new");
        assertThat(kafka.read("sql-predictions", sent.size() + 100, "read_committed")).hasSize(sent.size());
        Map<String, Integer> more = produce("frames", "doc2", 300, 20, 0);
        crmnSqlInItsOwnProcess("again, 20 new frames");
        Map<String, Integer> all = new HashMap<>(sent);
        all.putAll(more);
        checkOncePerFrame(json(kafka.read("sql-predictions", all.size() + 100, "read_committed")), all);
    }

    /** {@code ./crmn sql --file docs/sql/example.sql} as the README says, from the repository root, in a JVM of its own. */
    static String crmnSqlInItsOwnProcess(String what) throws Exception {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "-Xmx3g", "-Djava.awt.headless=true", "-Dcrmn.home=" + ROOT,
                "-Dlog4j2.configurationFile=" + ROOT.resolve("flink-jobs/src/launcher/log4j2.xml").toUri(),
                "-cp", System.getProperty("java.class.path"), "dev.crmn.jobs.cli.Crmn",
                "sql", "--file", "docs/sql/example.sql", "--bootstrap-servers", kafka.bootstrapServers()));
        Path log = Files.createTempFile(dir, "crmn-sql-", ".log");
        Process p = new ProcessBuilder(cmd).directory(ROOT.toFile()).redirectErrorStream(true)
                .redirectOutput(log.toFile()).start();
        boolean ended = p.waitFor(5, TimeUnit.MINUTES);
        if (!ended) {
            p.destroyForcibly();
        }
        String out = Files.readString(log);
        assertThat(ended).as(what + ": " + out).isTrue();
        assertThat(p.exitValue()).as(what + ": " + out).isZero();
        return out;
    }

    /** Fails its task once, on the {@link #AT}th row, after ML_PREDICT (chained with it: the whole job restarts). */
    public static class FailOnce extends ScalarFunction {
        static final int AT = 350;
        static final AtomicInteger SEEN = new AtomicInteger();
        static final AtomicBoolean FAILED = new AtomicBoolean();

        public String eval(String frameId) {
            if (SEEN.incrementAndGet() == AT && FAILED.compareAndSet(false, true)) {
                throw new IllegalStateException("injected failure at row " + AT);
            }
            return frameId;
        }
    }

    /** The example's statements for one test: its own topics, group, transactional ids, and the model by absolute path. */
    static Path script(String test, String replaceView, String with, String modelOptions) throws IOException {
        String s = Files.readString(EXAMPLE)
                .replace("'topic' = 'frames'", "'topic' = '" + test + "-frames'")
                .replace("'topic' = 'sql-predictions'", "'topic' = '" + test + "-predictions'")
                .replace("'topic' = 'sql-label-counts'", "'topic' = '" + test + "-counts'")
                .replace("crmn-sql-example", test + "-group")
                .replace("'crmn-sql-", "'" + test + "-")
                .replace("'model' = 'models/crmn-demo'", modelOptions)
                .replace(replaceView, with);
        for (String t : List.of("frames", "predictions", "counts")) {
            kafka.createTopic(test + "-" + t, t.equals("counts") ? 1 : 2);
        }
        return Files.writeString(dir.resolve(test + ".sql"), s);
    }

    @Test
    void everyFrameIsPredictedOnceAcrossAFailureWhileRowsAreInFlight() throws Exception {
        Path sql = script("fo", "SELECT CAST(headers['frame-id'] AS STRING) AS frame_id",
                "SELECT fail_once(CAST(headers['frame-id'] AS STRING)) AS frame_id",
                "'model' = '" + ROOT.resolve("models/crmn-demo") + "', 'store' = '" + dir.resolve("fo-store") + "'");
        Files.writeString(sql, "CREATE TEMPORARY FUNCTION fail_once AS '" + FailOnce.class.getName() + "';\n"
                + Files.readString(sql));
        Map<String, Integer> sent = produce("fo-frames", "fo", 0, 1000, 2);
        Cli.Run r = Cli.run("sql", "--file", sql.toString(), "--bootstrap-servers", kafka.bootstrapServers(),
                "--checkpoint-interval-ms", "200");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(FailOnce.FAILED).as("the failure was injected").isTrue();
        assertThat(FailOnce.SEEN.get()).as("rows after the failure were classified again").isGreaterThan(sent.size());
        checkOncePerFrame(json(kafka.read("fo-predictions", sent.size(), "read_committed")), sent);
    }

    @Test
    void followSwapsToTheVersionAnnouncedOnTheModelUpdatesTopicWhileTheQueryRuns() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("fl-store").toString());
        ModelRef v1 = store.publish(as("fl", ROOT.resolve("models/crmn-demo"), 1));
        ModelRef v2 = store.publish(as("fl", ROOT.resolve("models/crmn-demo-early"), 2));
        kafka.createTopic("fl-updates", 1, Map.of("cleanup.policy", "compact"));
        Path sql = script("fl", "  'scan.bounded.mode' = 'latest-offset',\n", "",
                "'model' = '" + v1.uri() + "', 'store' = '" + dir.resolve("fl-store") + "', 'follow' = 'fl-updates',"
                        + " 'follow.bootstrap-servers' = '" + kafka.bootstrapServers() + "'");
        CompletableFuture<Cli.Run> run = CompletableFuture.supplyAsync(() -> Cli.run("sql", "--file", sql.toString(),
                "--bootstrap-servers", kafka.bootstrapServers(), "--duration", "75"));
        Map<String, Integer> sent = new HashMap<>(produce("fl-frames", "fl", 0, 100, 0));
        List<ConsumerRecord<byte[], byte[]>> first = kafka.await("fl-predictions", 100, Duration.ofSeconds(90));
        assertThat(json(first)).allSatisfy(j -> assertThat(j.get("model_version").asInt()).isEqualTo(1));
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            p.send(ModelRefSerializationSchema.record("fl-updates", ModelUpdate.serve(v2))).get();
        }
        // frames keep coming until v2 answers; none is lost or predicted twice on the way
        Set<Integer> versions = new HashSet<>();
        int from = 100;
        while (!versions.contains(2) && from < 1000 && !run.isDone()) {
            sent.putAll(produce("fl-frames", "fl", from, 50, 0));
            from += 50;
            for (JsonNode j : json(kafka.await("fl-predictions", sent.size(), Duration.ofSeconds(60)))) {
                versions.add(j.get("model_version").asInt());
            }
        }
        assertThat(versions).as("predictions of the announced version").contains(2);
        Cli.Run r = run.get(3, TimeUnit.MINUTES);
        assertThat(r.code()).as(r.err()).isZero();
        List<JsonNode> all = json(kafka.read("fl-predictions", sent.size(), "read_committed"));
        Map<String, JsonNode> byId = new HashMap<>();
        for (JsonNode j : all) {
            assertThat(byId.put(j.get("frame_id").asText(), j)).as("predicted twice: " + j).isNull();
        }
        assertThat(byId.keySet()).isEqualTo(sent.keySet());
    }

    /** The checkpoint {@code source} as crmn-demo {@code version} ({@link ModelVersions#as}). */
    static Path as(String test, Path source, long version) throws IOException {
        return ModelVersions.as(dir, test, source, version);
    }

}
