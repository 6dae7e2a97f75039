package dev.crmn.it.demo;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.jobs.local.FreePorts;
import dev.crmn.jobs.testutil.Cli;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.testutil.TestData;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code crmn demo} as a user runs it, shortened and with small fine-tuning rounds: everything starts, frames flow,
 * a fine-tuning round promotes a version that the inference job swaps in, frames an outside client sends get their
 * predictions (a bad one lands in dead-letters), it stops cleanly, and the report says every frame the demo sent was
 * predicted exactly once.
 */
class DemoITCase {

    @Test
    void theDemoPromotesSwapsServesOutsideClientsAndReportsEveryFrameOnce(@TempDir Path dir) throws Exception {
        int port = FreePorts.next();
        Path report = dir.resolve("report");
        int kafkaPort = port;
        String bootstrap = "127.0.0.1:" + kafkaPort;
        CompletableFuture<Cli.Run> demo = CompletableFuture.supplyAsync(() -> Cli.run("demo", "--port=" + kafkaPort,
                "--web-ui-port=0", "--duration=110", "--frames-rate=40", "--labelled-rate=200", "--round-frames=1500",
                "--round-steps=50", "--report-dir=" + report, "--data=" + TestData.cifar10(),
                "--model=../models/crmn-demo-early"));
        long deadline = System.nanoTime() + 60_000_000_000L;
        boolean up = false;
        while (!up && System.nanoTime() < deadline && !demo.isDone()) {
            try (Socket s = new Socket("127.0.0.1", kafkaPort)) {
                up = true;
            } catch (java.io.IOException notYet) {
                Thread.sleep(200); // polling the broker's port with a deadline
            }
        }
        assertThat(up).as("the demo's broker came up").isTrue();
        // an outside client: a good frame gets its prediction while the demo runs; a bad one lands in dead-letters
        ImageSet test = ImageSet.load(List.of(TestData.testBatch()), 1);
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap),
                new ByteArraySerializer(), new ByteArraySerializer())) {
            p.send(FrameRecords.record("frames", "outside", ImageBytes.png(test.image(0)), ContentType.png(), "outside-good",
                    System.currentTimeMillis(), null)).get();
            p.send(FrameRecords.record("frames", "outside", "not an image".getBytes(), "image/png", "outside-bad", -1, null)).get();
        }
        Optional<Prediction> outside = awaitPrediction(bootstrap, "outside-good", Duration.ofSeconds(60));
        assertThat(outside).as("a prediction for the outside client's frame").isPresent();
        assertThat(outside.get().key()).isEqualTo("outside");

        Cli.Run r = demo.get();
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("Kafka broker   " + bootstrap, "model store", "report.html");
        JsonNode j = new ObjectMapper().readTree(Files.readAllBytes(report.resolve("report.json")));
        assertThat(j.get("frames_sent").asLong()).isPositive();
        assertThat(j.get("frames_predicted").asLong()).as("every frame the demo sent has a committed prediction")
                .isEqualTo(j.get("frames_sent").asLong());
        assertThat(j.get("duplicates").asLong()).as("no frame predicted twice").isZero();
        assertThat(j.get("dead_letters").asInt()).as("only the outside client's bad frame").isEqualTo(1);
        JsonNode promoted = null;
        for (JsonNode round : j.get("rounds")) {
            if (round.get("decision").asText().equals("promoted")) {
                promoted = round;
                break;
            }
        }
        assertThat(promoted).as("a fine-tuning round promoted a version: %s", j.get("rounds")).isNotNull();
        assertThat(promoted.get("candidate_holdout_accuracy").asDouble()).isGreaterThan(promoted.get("base_holdout_accuracy").asDouble());
        long v2 = promoted.get("candidate_version").asLong();
        assertThat(j.get("versions")).as("the inference job swapped to the promoted version").anyMatch(v -> v.get("version").asLong() == v2);
        JsonNode perVersion = j.get("per_version");
        assertThat(perVersion.get("v1").get("accuracy").asDouble()).isBetween(0.35, 0.75);
        assertThat(perVersion.get("v" + v2).get("predictions").asInt()).isPositive();
        JsonNode quality = j.get("model_quality");
        assertThat(quality).as("the quality job's figures per version").anyMatch(q -> q.get("version").asLong() == 1
                && q.get("labelled").asLong() > 0 && q.get("accuracy").asDouble() > 0.3);
        String html = Files.readString(report.resolve("report.html"));
        assertThat(html).contains("data:image/png;base64,", "What happened", "first prediction of v1",
                "fine-tuning round", "promoted as v" + v2, "Each model version");
        for (String png : new String[]{"accuracy.png", "latency.png", "throughput.png"}) {
            assertThat(Files.readAllBytes(report.resolve(png))).startsWith(0x89, 'P', 'N', 'G');
        }
        Set<Thread> threads = Thread.getAllStackTraces().keySet();
        assertThat(threads).as("no threads of the demo left").noneMatch(t -> t.isAlive() && (t.getName().startsWith("crmn-")
                || t.getName().contains("kafka-producer-network-thread")));
    }

    /**
     * Reads the committed predictions (no group, all partitions, once the topic exists) until one for
     * {@code frameId} arrives.
     */
    static Optional<Prediction> awaitPrediction(String bootstrap, String frameId, Duration timeout) throws Exception {
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(Map.of(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap,
                ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"), new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            // the demo creates its topics one by one after its broker is up: wait for this one to exist
            List<TopicPartition> parts = List.of();
            while (parts.isEmpty() && System.nanoTime() < deadline) {
                parts = c.partitionsFor("predictions", Duration.ofSeconds(5)).stream()
                        .map(i -> new TopicPartition("predictions", i.partition())).toList();
                if (parts.isEmpty()) {
                    Thread.sleep(100); // polling the broker's metadata with a deadline
                }
            }
            if (parts.isEmpty()) {
                return Optional.empty();
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            while (System.nanoTime() < deadline) {
                for (ConsumerRecord<byte[], byte[]> rec : c.poll(Duration.ofMillis(200))) {
                    Prediction p = PredictionJson.fromBytes(rec.value());
                    if (p.frameId().equals(frameId)) {
                        return Optional.of(p);
                    }
                }
            }
        }
        return Optional.empty();
    }
}
