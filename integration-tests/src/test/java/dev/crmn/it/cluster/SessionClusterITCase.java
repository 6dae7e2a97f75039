package dev.crmn.it.cluster;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.dataformat.yaml.YAMLFactory;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.format.Topics;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.it.testutil.FlinkSessionCluster;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.jobs.local.DefaultTopics;
import dev.crmn.jobs.cluster.FlinkRestClient;
import dev.crmn.jobs.testutil.Cli;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.testutil.TestData;
import java.io.IOException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Real cluster mode: a Flink session cluster as separate JobManager and TaskManager processes, configured with the
 * Compose stack's Flink settings (docker/docker-compose.yml, {@code x-flink-properties}) and the build's cluster
 * {@code lib/}; the three jobs submitted as the job jar through the REST API with {@code crmn submit}, as a user
 * submits them to any cluster (docs/cluster.md). Checks that predictions arrive exactly once, checkpoints complete, a second
 * submit leaves the running job alone, and the TaskManager's Prometheus endpoint serves every metric the Grafana
 * dashboard (docker/grafana/dashboards/crmn-flink.json) queries.
 */
class SessionClusterITCase {

    static final Path DIST = Path.of("..", "target", "dist");
    static final Path DOCKER = Path.of("..", "docker");
    static final Path SHIPPED = Path.of("..", "models", "crmn-demo");
    static final Duration WAIT = Duration.ofSeconds(180);

    @TempDir
    Path dir;

    /** The Flink settings the Compose stack gives its JobManager and TaskManagers. */
    static Map<String, String> composeFlinkProperties() throws IOException {
        JsonNode compose = new ObjectMapper(new YAMLFactory()).readTree(DOCKER.resolve("docker-compose.yml").toFile());
        String text = compose.path("x-flink-properties").asText();
        assertThat(text).as("x-flink-properties in docker-compose.yml").isNotBlank();
        Map<String, String> m = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            int colon = line.indexOf(": ");
            if (!line.isBlank()) {
                assertThat(colon).as("a 'key: value' line: %s", line).isPositive();
                m.put(line.substring(0, colon).trim(), line.substring(colon + 2).trim());
            }
        }
        return m;
    }

    /** Every Prometheus metric name (or name prefix, for a regex ending in {@code _.+}) the dashboard queries. */
    static Set<String> dashboardMetrics() throws IOException {
        String json = Files.readString(DOCKER.resolve("grafana/dashboards/crmn-flink.json"));
        Set<String> names = new TreeSet<>();
        for (JsonNode panel : new ObjectMapper().readTree(json).path("panels")) {
            for (JsonNode t : panel.path("targets")) {
                Matcher m = Pattern.compile("flink_[A-Za-z0-9_]+").matcher(t.path("expr").asText());
                while (m.find()) {
                    names.add(m.group());
                }
            }
        }
        return names;
    }

    static Set<String> scrape(String url) {
        Set<String> names = new HashSet<>();
        try {
            HttpResponse<String> r = HttpClient.newHttpClient().send(HttpRequest.newBuilder(URI.create(url)).build(),
                    HttpResponse.BodyHandlers.ofString());
            for (String line : r.body().split("\n")) {
                if (!line.isBlank() && !line.startsWith("#")) {
                    names.add(line.split("[{ ]", 2)[0]);
                }
            }
        } catch (IOException e) {
            return names; // not up yet
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return names;
    }

    static Set<String> missing(Set<String> wanted, Set<String> scraped) {
        Set<String> missing = new TreeSet<>();
        for (String w : wanted) {
            boolean found = w.endsWith("_") ? scraped.stream().anyMatch(s -> s.startsWith(w)) : scraped.contains(w);
            if (!found) {
                missing.add(w);
            }
        }
        return missing;
    }

    @Test
    void bothJobsRunOnASessionClusterSubmittedAsTheJobJarThroughRest() throws Exception {
        ImageSet test = ImageSet.load(List.of(TestData.testBatch()), 64);
        try (KafkaFixture kafka = KafkaFixture.start()) {
            try (Admin admin = kafka.admin()) {
                DefaultTopics.create(admin, 2, (short) 1);
            }
            try (FlinkSessionCluster cluster = FlinkSessionCluster.start(dir.resolve("cluster"), composeFlinkProperties(), DIST)) {
                try {
                    run(cluster, kafka, test);
                } catch (AssertionError | Exception e) {
                    throw new AssertionError(e.getMessage() + "\n--- cluster logs ---\n" + cluster.logTail(), e);
                }
            }
        }
    }

    private void run(FlinkSessionCluster cluster, KafkaFixture kafka, ImageSet test) throws Exception {
        String store = dir.resolve("store").toUri().toString();
        String jar = DIST.resolve("crmn-flink-job.jar").toAbsolutePath().toString();
        List<String> common = List.of("--rest-url", cluster.restUrl(), "--jar", jar, "--json", "--wait-seconds", "120",
                "--bootstrap-servers", kafka.bootstrapServers(), "--store", store, "--checkpoint-interval-ms", "1000");
        Cli.Run infer = submit("inference", common, "--model", SHIPPED.toAbsolutePath().toString(), "--parallelism", "1",
                "--model-cache", dir.resolve("cache").toString());
        assertThat(infer.code()).as(infer.err()).isZero();
        assertThat(infer.json().path("submitted").asBoolean()).isTrue();
        String inferenceJob = infer.json().path("job_id").asText();
        Cli.Run again = submit("inference", common, "--model", SHIPPED.toAbsolutePath().toString());
        assertThat(again.code()).as(again.err()).isZero();
        assertThat(again.json().path("submitted").asBoolean()).as("a retried submit leaves the running job alone").isFalse();
        assertThat(again.json().path("job_id").asText()).isEqualTo(inferenceJob);
        Cli.Run finetune = submit("finetune", common, "--model", "crmn-demo");
        assertThat(finetune.code()).as(finetune.err()).isZero();
        String fineTuneJob = finetune.json().path("job_id").asText();
        Cli.Run quality = submit("quality", common, "--report-interval-ms", "1000");
        assertThat(quality.code()).as(quality.err()).isZero();
        String qualityJob = quality.json().path("job_id").asText();

        int n = test.size();
        send(kafka, test, n, "cluster-");
        List<ConsumerRecord<byte[], byte[]>> records = kafka.await(Topics.PREDICTIONS, n, WAIT);
        Set<String> ids = new HashSet<>();
        int correct = 0;
        for (ConsumerRecord<byte[], byte[]> r : records) {
            Prediction pred = PredictionJson.fromBytes(r.value());
            assertThat(ids.add(pred.frameId())).as("one prediction for %s", pred.frameId()).isTrue();
            assertThat(pred.model().name()).isEqualTo("crmn-demo");
            assertThat(pred.model().version()).isEqualTo(1);
            correct += pred.label() != null && pred.top().index() == pred.label() ? 1 : 0;
        }
        assertThat(ids).hasSize(n);
        assertThat(correct).as("correct of %d (the shipped model is ~80 %% accurate)", n).isGreaterThan(n / 2);

        FlinkRestClient rest = new FlinkRestClient(cluster.restUrl());
        long deadline = System.nanoTime() + WAIT.toNanos();
        while (rest.completedCheckpoints(fineTuneJob) < 1 && System.nanoTime() < deadline) {
            Thread.sleep(200); // polling the cluster's REST API
        }
        assertThat(rest.completedCheckpoints(inferenceJob)).as("inference checkpoints (predictions were committed)").isPositive();
        assertThat(rest.completedCheckpoints(fineTuneJob)).as("fine-tuning checkpoints").isPositive();
        assertThat(rest.state(inferenceJob)).isEqualTo("RUNNING");
        assertThat(rest.state(fineTuneJob)).isEqualTo("RUNNING");
        // the quality job scored the same predictions: the shipped model's live accuracy on model-quality
        dev.crmn.connectors.format.ModelQuality v1 = null;
        while ((v1 == null || v1.labelled() < n) && System.nanoTime() < deadline) {
            for (ConsumerRecord<byte[], byte[]> r : kafka.read(Topics.MODEL_QUALITY, 1000, "read_committed")) {
                v1 = dev.crmn.connectors.format.ModelQuality.fromBytes(r.value());
            }
            Thread.sleep(500); // polling the compacted topic with a deadline
        }
        assertThat(v1).as("a model-quality record of crmn-demo v1").isNotNull();
        assertThat(v1.labelled()).isEqualTo(n);
        assertThat(v1.correct()).isEqualTo(correct);
        assertThat(rest.state(qualityJob)).isEqualTo("RUNNING");

        Set<String> wanted = dashboardMetrics();
        assertThat(wanted).contains("flink_taskmanager_job_task_operator_framesPerSecond",
                "flink_taskmanager_job_task_operator_promotions");
        Set<String> scraped = scrape(cluster.taskManagerMetricsUrl());
        while (!missing(wanted, scraped).isEmpty() && System.nanoTime() < deadline) {
            Thread.sleep(500); // the reporter shows a metric once its operator is open
            scraped = scrape(cluster.taskManagerMetricsUrl());
        }
        assertThat(missing(wanted, scraped)).as("dashboard metrics the TaskManager does not export").isEmpty();

        // stopped with a savepoint and submitted again from it: frames sent in between are predicted once each
        String savepoints = dir.resolve("savepoints").toUri().toString();
        Cli.Run stop = Cli.run("stop", "inference", "--rest-url", cluster.restUrl(), "--savepoint-dir", savepoints, "--json");
        assertThat(stop.code()).as(stop.err()).isZero();
        assertThat(stop.json().path("job_id").asText()).isEqualTo(inferenceJob);
        String savepoint = stop.json().path("savepoint").asText();
        assertThat(rest.state(inferenceJob)).isEqualTo("FINISHED");
        Cli.Run none = Cli.run("stop", "inference", "--rest-url", cluster.restUrl(), "--savepoint-dir", savepoints);
        assertThat(none.code()).isEqualTo(1);
        assertThat(none.err()).contains("no crmn inference job is running");
        int more = 24;
        send(kafka, test, more, "after-stop-");
        Cli.Run resumed = submit("inference", common, "--from-savepoint", savepoint, "--model",
                SHIPPED.toAbsolutePath().toString(), "--parallelism", "1", "--model-cache", dir.resolve("cache").toString());
        assertThat(resumed.code()).as(resumed.err()).isZero();
        assertThat(resumed.json().path("submitted").asBoolean()).isTrue();
        Set<String> all = new HashSet<>();
        for (ConsumerRecord<byte[], byte[]> r : kafka.await(Topics.PREDICTIONS, n + more, WAIT)) {
            String id = PredictionJson.fromBytes(r.value()).frameId();
            assertThat(all.add(id)).as("one prediction for %s", id).isTrue();
        }
        assertThat(all).hasSize(n + more);

        rest.cancel(resumed.json().path("job_id").asText());
        rest.cancel(fineTuneJob);
        rest.cancel(qualityJob);
    }

    /**
     * The SQL provider on a real cluster, as a SQL client would use it: docs/sql/example.sql planned here (the model
     * given by absolute path, the only change) and its statement set submitted with the job jar as the job's only
     * user code; the provider, its generated async function and the network run in the TaskManager process.
     */
    @Test
    void mlPredictRunsOnASessionClusterFromTheJobJar() throws Exception {
        ImageSet test = ImageSet.load(List.of(TestData.testBatch()), 64);
        try (KafkaFixture kafka = KafkaFixture.start()) {
            try (Admin admin = kafka.admin()) {
                DefaultTopics.create(admin, 2, (short) 1);
            }
            kafka.createTopic("sql-predictions", 2);
            kafka.createTopic("sql-label-counts", 1);
            send(kafka, test, test.size(), "sql-");
            try (FlinkSessionCluster cluster = FlinkSessionCluster.start(dir.resolve("cluster"), composeFlinkProperties(), DIST)) {
                URI rest = URI.create(cluster.restUrl());
                org.apache.flink.configuration.Configuration conf = new org.apache.flink.configuration.Configuration();
                conf.set(org.apache.flink.configuration.CoreOptions.DEFAULT_PARALLELISM, 2);
                conf.set(org.apache.flink.configuration.CheckpointingOptions.CHECKPOINTING_INTERVAL, Duration.ofSeconds(1));
                var env = org.apache.flink.streaming.api.environment.StreamExecutionEnvironment.createRemoteEnvironment(
                        rest.getHost(), rest.getPort(), conf, DIST.resolve("crmn-flink-job.jar").toAbsolutePath().toString());
                var tables = org.apache.flink.table.api.bridge.java.StreamTableEnvironment.create(env);
                tables.getConfig().getConfiguration().setString("table.exec.async-ml-predict.max-concurrent-operations", "128");
                String script = Files.readString(Path.of("..", "docs", "sql", "example.sql")).replace(
                        "'model' = 'models/crmn-demo'", "'model' = '" + SHIPPED.toAbsolutePath().normalize() + "'");
                org.apache.flink.core.execution.JobClient job = null;
                for (String statement : dev.crmn.jobs.sql.SqlScript.statements(script,
                        Map.of("bootstrap-servers", kafka.bootstrapServers()))) {
                    var result = tables.executeSql(statement);
                    if (result.getJobClient().isPresent()) {
                        job = result.getJobClient().get();
                    }
                }
                assertThat(job).as("the statement set started a job").isNotNull();
                try {
                    job.getJobExecutionResult().get(WAIT.toSeconds(), java.util.concurrent.TimeUnit.SECONDS);
                } catch (Exception e) {
                    throw new AssertionError(e + "\n--- cluster logs ---\n" + cluster.logTail(), e);
                }
            }
            Set<String> ids = new HashSet<>();
            for (ConsumerRecord<byte[], byte[]> r : kafka.read("sql-predictions", test.size() + 10, "read_committed")) {
                JsonNode j = new ObjectMapper().readTree(r.value());
                assertThat(ids.add(j.get("frame_id").asText())).as("one prediction for %s", j).isTrue();
                assertThat(j.get("model_version").asInt()).isEqualTo(1);
            }
            assertThat(ids).hasSize(test.size());
        }
    }

    /** The first {@code count} images as labelled PNG frames {@code <prefix><i>} over both partitions. */
    private static void send(KafkaFixture kafka, ImageSet images, int count, String prefix) throws Exception {
        try (KafkaProducer<byte[], byte[]> p = kafka.producer(null)) {
            for (int i = 0; i < count; i++) {
                var rec = FrameRecords.record(Topics.FRAMES, null, ImageBytes.png(images.image(i)), ContentType.png(),
                        prefix + i, System.currentTimeMillis(), Integer.toString(images.label(i)));
                p.send(new ProducerRecord<>(Topics.FRAMES, i % 2, null, rec.key(), rec.value(), rec.headers()));
            }
            p.flush();
        }
    }

    private static Cli.Run submit(String job, List<String> common, String... extra) {
        List<String> args = new java.util.ArrayList<>(List.of("submit", job));
        args.addAll(common);
        args.addAll(List.of(extra));
        return Cli.run(args.toArray(new String[0]));
    }
}
