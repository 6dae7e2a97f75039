package dev.crmn.it.demo;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.jobs.testutil.Cli;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code crmn demo} as a user runs it, shortened: everything starts, frames flow, a frame of ours is handled, it stops cleanly. */
class DemoITCase {

    @Test
    void theDemoRunsServesOutsideClientsAndLeavesAReportAndNoThreads(@TempDir Path dir) throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        Path report = dir.resolve("report");
        int kafkaPort = port;
        CompletableFuture<Cli.Run> demo = CompletableFuture.supplyAsync(() -> Cli.run("demo", "--port=" + kafkaPort,
                "--web-ui-port=0", "--duration=45", "--frames-rate=40", "--labelled-rate=100", "--report-dir=" + report,
                "--data=" + dev.crmn.model.testutil.TestData.cifar10(), "--model=../models/crmn-demo"));
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
        // an outside client sends a frame the job cannot use: it lands in dead-letters, the job goes on
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                "127.0.0.1:" + kafkaPort), new ByteArraySerializer(), new ByteArraySerializer())) {
            p.send(FrameRecords.record("frames", "outside", "not an image".getBytes(), "image/png", "outside-1", -1, null)).get();
        }
        Cli.Run r = demo.get();
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.out()).contains("Kafka broker   127.0.0.1:" + kafkaPort, "model store", "report.html");
        JsonNode j = new ObjectMapper().readTree(Files.readAllBytes(report.resolve("report.json")));
        assertThat(j.get("predictions").asInt()).isPositive();
        assertThat(j.get("dead_letters").asInt()).isGreaterThanOrEqualTo(1);
        assertThat(j.get("per_version").get("v1").get("accuracy").asDouble()).isBetween(0.5, 1.0);
        assertThat(Files.readString(report.resolve("report.html"))).contains("data:image/png;base64,");
        for (String png : new String[]{"accuracy.png", "latency.png", "throughput.png"}) {
            assertThat(Files.readAllBytes(report.resolve(png))).startsWith(0x89, 'P', 'N', 'G');
        }
        Set<Thread> threads = Thread.getAllStackTraces().keySet();
        assertThat(threads).as("no threads of the demo left").noneMatch(t -> t.isAlive() && (t.getName().startsWith("crmn-")
                || t.getName().contains("kafka-producer-network-thread")));
    }
}
