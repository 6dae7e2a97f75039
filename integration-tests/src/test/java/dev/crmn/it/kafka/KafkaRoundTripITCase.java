package dev.crmn.it.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.connectors.cli.ProduceCommand;
import dev.crmn.connectors.cli.ScoreCommand;
import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.FrameRejectedException;
import dev.crmn.connectors.format.Headers;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.format.Topics;
import dev.crmn.connectors.image.DecoderSettings;
import dev.crmn.connectors.kafka.FrameDeserializationSchema;
import dev.crmn.connectors.kafka.PredictionSerializationSchema;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.connectors.testutil.Checkpoints2;
import dev.crmn.connectors.testutil.Images;
import dev.crmn.model.infer.ClassScore;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.testutil.TestData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Against a real KRaft broker: frames as the docs tell users to send them, dead letters, and produce → score. */
class KafkaRoundTripITCase {

    static KafkaFixture kafka;
    @TempDir
    static Path dir;

    @BeforeAll
    static void broker() throws Exception {
        kafka = KafkaFixture.start();
    }

    @AfterAll
    static void stop() throws Exception {
        kafka.close();
    }

    static KafkaProducer<byte[], byte[]> producer(String txId) {
        return kafka.producer(txId);
    }

    static List<ConsumerRecord<byte[], byte[]>> consume(String topic, int n) {
        return kafka.read(topic, n);
    }

    static List<ConsumerRecord<byte[], byte[]>> consume(String topic, int n, String isolation) {
        return kafka.read(topic, n, isolation);
    }

    static byte[] utf8(String s) {
        return s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void framesSentByAPlainProducerAsDocumentedDecodeOrDeadLetterWithoutLoss() throws Exception {
        kafka.createTopic("doc-frames", 1);
        kafka.createTopic("doc-dead", 1);
        byte[] png = Images.png(Images.gradient(32, 32));
        try (KafkaProducer<byte[], byte[]> p = producer(null)) {
            // exactly as docs/wire-format.md shows
            RecordHeaders h1 = new RecordHeaders();
            h1.add("content-type", utf8("image/png"));
            h1.add("frame-id", utf8("cam1-000001"));
            h1.add("event-time", utf8("1700000000000"));
            h1.add("label", utf8("cat"));
            p.send(new ProducerRecord<>("doc-frames", null, null, utf8("cam1"), png, h1)).get();
            RecordHeaders h2 = new RecordHeaders();
            h2.add("content-type", utf8("application/x-raw; format=rgb8; width=32; height=32"));
            p.send(new ProducerRecord<>("doc-frames", null, null, null, Images.gradient(32, 32).pixels(), h2)).get();
            p.send(new ProducerRecord<>("doc-frames", null, null, utf8("cam2"), png)).get(); // no headers: sniffed
            RecordHeaders h4 = new RecordHeaders();
            h4.add("content-type", utf8("image/gif"));
            h4.add("x-trace", utf8("t-4"));
            p.send(new ProducerRecord<>("doc-frames", null, null, utf8("cam3"), utf8("GIF89a..."), h4)).get();
        }
        FrameDecoder decoder = new FrameDecoder(32, 32, 3, Checkpoints2.CIFAR10, false, DecoderSettings.defaults());
        List<DecodedFrame> ok = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> dlq = producer(null)) {
            for (ConsumerRecord<byte[], byte[]> r : consume("doc-frames", 4)) {
                Frame f = FrameDeserializationSchema.toFrame(r);
                try {
                    ok.add(decoder.decode(f));
                } catch (FrameRejectedException e) {
                    dlq.send(DeadLetter.of(f, e).toRecord("doc-dead")).get();
                }
            }
        }
        assertThat(ok).hasSize(3);
        assertThat(ok.get(0).frameId()).isEqualTo("cam1-000001");
        assertThat(ok.get(0).label()).isEqualTo(3);
        assertThat(ok.get(0).key()).isEqualTo("cam1");
        assertThat(ok.get(1).frameId()).isEqualTo("doc-frames-0-1");
        assertThat(ok.get(1).image().pixels()).isEqualTo(ok.get(0).image().pixels());
        List<ConsumerRecord<byte[], byte[]>> dead = consume("doc-dead", 1);
        assertThat(dead).hasSize(1);
        DeadLetter d = DeadLetter.fromRecord(dead.get(0));
        assertThat(d.reason().wireName()).isEqualTo("unknown-content-type");
        assertThat(d.original().value()).isEqualTo(utf8("GIF89a..."));
        assertThat(d.original().keyString()).isEqualTo("cam3");
        assertThat(d.original().header("x-trace")).isEqualTo("t-4");
        assertThat(d.original().offset()).isEqualTo(3);
        assertThat(new String(dead.get(0).headers().lastHeader(Headers.ERROR_DETAIL).value())).contains("image/gif");
    }

    @Test
    void publishAnnouncesTheModelRefOnTheCompactedTopic() throws Exception {
        kafka.createTopic("pub-updates", 1, java.util.Map.of("cleanup.policy", "compact"));
        Path ck = Checkpoints2.tiny(dir.resolve("pub-tiny"), 3, 2L);
        String store = dir.resolve("pub-store").toUri().toString();
        int rc = new CommandLine(new dev.crmn.connectors.cli.PublishCommand()).execute("--model=" + ck, "--store=" + store,
                "--announce", "--topic=pub-updates", "--bootstrap-servers=" + kafka.bootstrapServers());
        assertThat(rc).isZero();
        List<ConsumerRecord<byte[], byte[]>> recs = consume("pub-updates", 1);
        assertThat(recs).hasSize(1);
        assertThat(new String(recs.get(0).key(), StandardCharsets.UTF_8)).isEqualTo("tiny");
        dev.crmn.connectors.format.ModelRef ref = dev.crmn.connectors.format.ModelRefJson.fromBytes(recs.get(0).value());
        assertThat(ref.version()).isEqualTo(3);
        assertThat(ref.parentVersion()).isEqualTo(2L);
        assertThat(new dev.crmn.connectors.store.ModelStore(store).latest("tiny")).get()
                .extracting(dev.crmn.connectors.format.ModelRef::sha256).isEqualTo(ref.sha256());
        Path fetched = new dev.crmn.connectors.store.ModelStore(store).fetch(ref, dir.resolve("pub-fetched"));
        assertThat(dev.crmn.model.checkpoint.Checkpoints.load(fetched, false).manifest().version()).isEqualTo(3);
    }

    @Test
    void produceThenClassifyThenScoreRoundTrip() throws Exception {
        String frames = "rt-frames";
        String predictions = "rt-predictions";
        kafka.createTopic(predictions, 1);
        int n = 60;
        int rc = new CommandLine(new ProduceCommand()).execute("--bootstrap-servers=" + kafka.bootstrapServers(),
                "--topic=" + frames, "--data=" + TestData.testBatch(), "--limit=" + n, "--labels", "--partitions=2",
                "--kafka.client.id=rt-producer");
        assertThat(rc).isZero();
        Path ck = Checkpoints2.tiny(dir.resolve("tiny"), 1, null);
        int correct = 0;
        try (Classifier c = Classifier.load(ck); KafkaProducer<byte[], byte[]> tx = producer("rt-tx")) {
            FrameDecoder decoder = new FrameDecoder(32, 32, 3, c.labels(), true, DecoderSettings.defaults());
            tx.initTransactions();
            List<ConsumerRecord<byte[], byte[]>> records = consume(frames, n);
            assertThat(records).hasSize(n);
            List<DecodedFrame> decoded = new ArrayList<>();
            for (ConsumerRecord<byte[], byte[]> r : records) {
                decoded.add(decoder.decode(FrameDeserializationSchema.toFrame(r)));
            }
            List<List<ClassScore>> top = c.topK(decoded.stream().map(DecodedFrame::image).toList(), 3);
            tx.beginTransaction();
            for (int i = 0; i < decoded.size(); i++) {
                DecodedFrame f = decoded.get(i);
                if (top.get(i).get(0).index() == f.label()) {
                    correct++;
                }
                Prediction p = new Prediction(PredictionJson.CURRENT_SCHEMA, f.frameId(), f.key(),
                        new Prediction.Source(f.topic(), f.partition(), f.offset()), top.get(i).toArray(new ClassScore[0]),
                        new Prediction.ModelInfo("tiny", 1, c.manifest().sha256()), decoded.size(),
                        new Prediction.Timings(1, 2, System.currentTimeMillis() - f.timestamp()), null, null,
                        System.currentTimeMillis());
                tx.send(new PredictionSerializationSchema(predictions).serialize(p, null, null));
            }
            tx.commitTransaction();
            // An aborted transaction's predictions must not be counted by a read-committed scorer.
            tx.beginTransaction();
            DecodedFrame f = decoded.get(0);
            tx.send(new PredictionSerializationSchema(predictions).serialize(new Prediction(1, "ghost", null,
                    new Prediction.Source(f.topic(), f.partition(), f.offset()), top.get(0).toArray(new ClassScore[0]),
                    new Prediction.ModelInfo("tiny", 99, "x"), 1, new Prediction.Timings(0, 0, 0), null, null, 0), null, null));
            tx.flush();
            tx.abortTransaction();
        }
        // the aborted prediction is in the log (a read_uncommitted consumer sees it) but not for read_committed ones
        assertThat(consume(predictions, n + 1, "read_uncommitted")).hasSize(n + 1)
                .anyMatch(r -> new String(r.headers().lastHeader(Headers.FRAME_ID).value(), StandardCharsets.UTF_8).equals("ghost"));
        assertThat(consume(predictions, n + 1, "read_committed")).hasSize(n)
                .noneMatch(r -> new String(r.headers().lastHeader(Headers.FRAME_ID).value(), StandardCharsets.UTF_8).equals("ghost"));
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            rc = new CommandLine(new ScoreCommand()).execute("--bootstrap-servers=" + kafka.bootstrapServers(),
                    "--predictions=" + predictions, "--frames=" + frames, "--expect=" + n, "--idle-seconds=5", "--json");
        } finally {
            System.setOut(old);
        }
        assertThat(rc).isZero();
        JsonNode report = new ObjectMapper().readTree(out.toByteArray());
        assertThat(report.get("predictions").asInt()).isEqualTo(n);
        assertThat(report.get("labelled").asInt()).isEqualTo(n);
        assertThat(report.get("duplicates").asInt()).isZero();
        assertThat(report.get("accuracy").asDouble()).isEqualTo((double) correct / n);
        assertThat(report.get("per_model").has("tiny v1")).isTrue();
        assertThat(report.get("per_model").has("tiny v99")).isFalse();
        assertThat(report.get("latency_ms").get("p50").asDouble()).isGreaterThanOrEqualTo(0);
    }
}
