package dev.crmn.it.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.kafka.PredictionSerializationSchema;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.testutil.Checkpoints2;
import dev.crmn.connectors.testutil.Images;
import dev.crmn.jobs.testutil.Cli;
import dev.crmn.it.testutil.KafkaFixture;
import dev.crmn.jobs.local.EmbeddedKafka;
import dev.crmn.model.infer.ClassScore;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command-line tools against a real broker, at the edges a new user met: reruns, retries, missing brokers, bad files. */
class CliToolsITCase {

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

    static KafkaProducer<byte[], byte[]> producer() {
        return kafka.producer(null);
    }

    static List<ConsumerRecord<byte[], byte[]>> readAll(String topic, int atLeast) {
        return kafka.read(topic, atLeast, "read_uncommitted");
    }

    static Prediction prediction(String frameId, String topic, long offset, int top) {
        return new Prediction(PredictionJson.CURRENT_SCHEMA, frameId, null, new Prediction.Source(topic, 0, offset),
                new ClassScore[]{new ClassScore(top, "c" + top, 0.9f)}, new Prediction.ModelInfo("m", 1, "ab"), 1,
                new Prediction.Timings(1, 2, 3), null, top, System.currentTimeMillis());
    }

    @Test
    void scoreCountsEachPredictionOnceAndReportsRealDuplicates() throws Exception {
        kafka.createTopic("s-predictions", 2);
        kafka.createTopic("s-frames", 1);
        try (KafkaProducer<byte[], byte[]> p = producer()) {
            var schema = new PredictionSerializationSchema("s-predictions");
            p.send(schema.serialize(prediction("a", "s-frames", 0, 1), null, null)).get();
            p.send(schema.serialize(prediction("b", "s-frames", 1, 2), null, null)).get();
            p.send(schema.serialize(prediction("c", "s-frames", 2, 3), null, null)).get();
            p.send(schema.serialize(prediction("b", "s-frames", 1, 2), null, null)).get(); // a real duplicate
        }
        for (int run = 0; run < 2; run++) { // and the same again: nothing is consumed or committed by a score
            Cli.Run r = Cli.run("score", "--bootstrap-servers=" + kafka.bootstrapServers(), "--predictions=s-predictions",
                    "--frames=s-frames", "--idle-seconds=2", "--json");
            assertThat(r.code()).as(r.err()).isZero();
            JsonNode j = r.json();
            assertThat(j.get("predictions").asInt()).isEqualTo(4);
            assertThat(j.get("duplicates").asInt()).isEqualTo(1);
            assertThat(j.get("labelled").asInt()).isEqualTo(4);
            assertThat(j.get("accuracy").asDouble()).isEqualTo(1.0);
        }
        Cli.Run noLabels = Cli.run("score", "--bootstrap-servers=" + kafka.bootstrapServers(), "--predictions=s-predictions",
                "--frames=s-no-such-frames", "--idle-seconds=2", "--json");
        assertThat(noLabels.code()).as("a missing frames topic costs the labels, not the score: " + noLabels.err()).isZero();
        assertThat(noLabels.err()).contains("frames topic s-no-such-frames does not exist");
        assertThat(noLabels.json().get("predictions").asInt()).isEqualTo(4);
        Cli.Run expectMore = Cli.run("score", "--bootstrap-servers=" + kafka.bootstrapServers(),
                "--predictions=s-predictions", "--frames=s-frames", "--idle-seconds=2", "--expect=10");
        assertThat(expectMore.code()).as("an expectation not met is a failure").isEqualTo(1);
        assertThat(expectMore.err()).contains("expected 10 predictions, read 4");
        assertThat(expectMore.out()).contains("m v1").doesNotContain("{"); // a table, not a Java map
    }

    @Test
    void inferSaysInOneLineWhenItCannotResumeAndFreshStartsWithoutTheSavepoint() throws Exception {
        for (String t : List.of("r-frames", "r-predictions", "r-dead")) {
            kafka.createTopic(t, 1);
        }
        kafka.createTopic("r-updates", 1, Map.of("cleanup.policy", "compact"));
        Path checkpoints = dir.resolve("r-checkpoints");
        Path bad = checkpoints.resolve("savepoints").resolve("r-group").resolve("savepoint-bad");
        java.nio.file.Files.createDirectories(bad);
        java.nio.file.Files.writeString(bad.resolve("_metadata"), "not a savepoint");
        List<String> args = List.of("infer", "--bootstrap-servers=" + kafka.bootstrapServers(), "--model=../models/crmn-demo",
                "--store=" + dir.resolve("r-store"), "--model-cache=" + dir.resolve("r-cache"), "--checkpoint-dir=" + checkpoints,
                "--group-id=r-group", "--transactional-id-prefix=r-group", "--frames-topic=r-frames",
                "--predictions-topic=r-predictions", "--dead-letters-topic=r-dead", "--model-updates-topic=r-updates",
                "--parallelism=1", "--duration=3");
        Cli.Run resume = Cli.run(args.toArray(new String[0]));
        assertThat(resume.code()).isEqualTo(1);
        assertThat(resume.err()).contains("infer: error: cannot resume from", "savepoint-bad", "--fresh");
        List<String> fresh = new java.util.ArrayList<>(args);
        fresh.add("--fresh");
        Cli.Run started = Cli.run(fresh.toArray(new String[0]));
        assertThat(started.code()).as(started.err()).isZero();
        try (var left = java.nio.file.Files.list(bad.getParent())) {
            assertThat(left.map(p -> p.getFileName().toString()).toList()).as("the stop's savepoint replaced the bad one")
                    .hasSize(1).noneMatch(n -> n.equals("savepoint-bad"));
        }
    }

    @Test
    void theJobsRefuseInOneLineToStartWithoutTheirTopics() throws Exception {
        for (String t : List.of("m-frames", "m-predictions")) {
            kafka.createTopic(t, 1);
        }
        Path store = dir.resolve("m-store");
        Cli.Run infer = Cli.run("infer", "--bootstrap-servers=" + kafka.bootstrapServers(), "--model=../models/crmn-demo",
                "--store=" + store, "--checkpoint-dir=" + dir.resolve("m-checkpoints"), "--group-id=m-group",
                "--frames-topic=m-frames", "--predictions-topic=m-predictions", "--dead-letters-topic=m-no-dead",
                "--model-updates-topic=m-no-updates", "--duration=3");
        assertThat(infer.code()).isNotZero();
        assertThat(infer.err()).contains("infer: error: no topic m-no-dead (--dead-letters-topic), m-no-updates"
                + " (--model-updates-topic) at " + kafka.bootstrapServers()).contains("./crmn topics").hasLineCount(1);
        assertThat(store).as("refused before anything was published").doesNotExist();
        Cli.Run finetune = Cli.run("finetune", "--bootstrap-servers=" + kafka.bootstrapServers(), "--model=crmn-demo",
                "--store=" + store, "--checkpoint-dir=" + dir.resolve("m-checkpoints"), "--group-id=m-group-ft",
                "--labelled-topic=m-no-labelled", "--duration=3");
        assertThat(finetune.code()).isNotZero();
        assertThat(finetune.err()).contains("finetune: error: no topic m-no-labelled (--labelled-topic)").hasLineCount(1);
    }

    @Test
    void toolsSayQuicklyAndInOneLineWhenNoBrokerAnswers() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort(); // nothing listens there afterwards
        }
        Path ck = Checkpoints2.tiny(dir.resolve("nobroker-ck"), 1, null);
        Path store = dir.resolve("nobroker-store");
        long t0 = System.nanoTime();
        Cli.Run publish = Cli.run("publish", "--model=" + ck, "--store=" + store.toUri(), "--announce",
                "--bootstrap-servers=127.0.0.1:" + port);
        assertThat(publish.code()).isNotZero();
        assertThat(publish.err()).contains("cannot reach Kafka at 127.0.0.1:" + port).doesNotContain("Exception").hasLineCount(1);
        assertThat(store).as("nothing written before the broker check").doesNotExist();
        Cli.Run score = Cli.run("score", "--bootstrap-servers=127.0.0.1:" + port);
        assertThat(score.code()).isNotZero();
        assertThat(score.err()).contains("cannot reach Kafka").hasLineCount(1);
        Cli.Run produce = Cli.run("produce", "--bootstrap-servers=127.0.0.1:" + port, "--data=" + dev.crmn.model.testutil.TestData.testBatch(), "--limit=1");
        assertThat(produce.code()).isNotZero();
        assertThat(produce.err()).contains("cannot reach Kafka").hasLineCount(1);
        Cli.Run topics = Cli.run("topics", "--bootstrap-servers=127.0.0.1:" + port);
        assertThat(topics.code()).isNotZero();
        assertThat(topics.err()).contains("cannot reach Kafka").hasLineCount(1);
        // the jobs' runners: before this check they waited out Kafka's one-minute API timeout
        Cli.Run infer = Cli.run("infer", "--bootstrap-servers=127.0.0.1:" + port, "--model=" + ck, "--duration=5",
                "--store=" + store.toUri(), "--checkpoint-dir=" + dir.resolve("nobroker-checkpoints"));
        assertThat(infer.code()).isNotZero();
        assertThat(infer.err()).contains("infer: error: cannot reach Kafka at 127.0.0.1:" + port).hasLineCount(1);
        Cli.Run finetune = Cli.run("finetune", "--bootstrap-servers=127.0.0.1:" + port, "--model=crmn-tiny", "--duration=5",
                "--store=" + store.toUri(), "--checkpoint-dir=" + dir.resolve("nobroker-checkpoints"));
        assertThat(finetune.code()).isNotZero();
        assertThat(finetune.err()).contains("finetune: error: cannot reach Kafka at 127.0.0.1:" + port).hasLineCount(1);
        assertThat(store).as("nothing published before the broker check").doesNotExist();
        // a --model directory that does not exist is said first, without asking any broker
        Cli.Run missing = Cli.run("infer", "--bootstrap-servers=127.0.0.1:" + port, "--model=" + dir.resolve("no-such-model"),
                "--duration=5", "--store=" + store.toUri());
        assertThat(missing.code()).isNotZero();
        assertThat(missing.err()).contains("no-such-model: no such checkpoint directory").hasLineCount(1);
        Cli.Run notOne = Cli.run("infer", "--bootstrap-servers=127.0.0.1:" + port, "--model=" + dir, "--duration=5",
                "--store=" + store.toUri());
        assertThat(notOne.code()).isNotZero();
        assertThat(notOne.err()).contains(": not a checkpoint directory (no manifest.json").hasLineCount(1);
        assertThat(Duration.ofNanos(System.nanoTime() - t0)).as("the tools, each failing within seconds").isLessThan(Duration.ofSeconds(90));
    }

    @Test
    void topicsCreatesTheDefaultTopicsOnceAndLeavesThemAloneAfter() throws Exception {
        Cli.Run first = Cli.run("topics", "--bootstrap-servers=" + kafka.bootstrapServers(), "--partitions=3");
        assertThat(first.code()).as(first.err()).isZero();
        assertThat(first.out()).contains("frames created", "frames-labelled created", "predictions created",
                "dead-letters created", "model-updates created", "labels created");
        Cli.Run again = Cli.run("topics", "--bootstrap-servers=" + kafka.bootstrapServers(), "--partitions=5");
        assertThat(again.code()).isZero();
        assertThat(again.out()).contains("frames exists", "model-updates exists").doesNotContain("created");
        try (org.apache.kafka.clients.admin.Admin admin = kafka.admin()) {
            var described = admin.describeTopics(List.of("frames", "model-updates")).allTopicNames().get();
            assertThat(described.get("frames").partitions()).as("an existing topic is not changed").hasSize(3);
            assertThat(described.get("model-updates").partitions()).hasSize(1);
            var config = admin.describeConfigs(List.of(new org.apache.kafka.common.config.ConfigResource(
                    org.apache.kafka.common.config.ConfigResource.Type.TOPIC, "model-updates"))).all().get();
            assertThat(config.values().iterator().next().get("cleanup.policy").value()).isEqualTo("compact");
        }
    }

    @Test
    void rollbackMarksTheServingVersionAndAnnouncesTheOlderOne() throws Exception {
        kafka.createTopic("rb-updates", 1, Map.of("cleanup.policy", "compact"));
        String store = dir.resolve("rb-store").toUri().toString();
        for (long v = 1; v <= 2; v++) {
            Cli.Run p = Cli.run("publish", "--model=" + Checkpoints2.tiny(dir.resolve("rb-ck" + v), v, v == 1 ? null : v - 1),
                    "--store=" + store, "--announce", "--topic=rb-updates", "--bootstrap-servers=" + kafka.bootstrapServers());
            assertThat(p.code()).as(p.err()).isZero();
        }
        Cli.Run up = Cli.run("rollback", "--store=" + store, "--name=tiny", "--to=2", "--topic=rb-updates",
                "--bootstrap-servers=" + kafka.bootstrapServers());
        assertThat(up.code()).as("not a rollback: v2 serves").isNotZero();
        assertThat(up.err()).contains("older version").hasLineCount(1);
        Cli.Run rb = Cli.run("rollback", "--store=" + store, "--name=tiny", "--to=1", "--reason=worse on live labels",
                "--topic=rb-updates", "--bootstrap-servers=" + kafka.bootstrapServers(), "--json");
        assertThat(rb.code()).as(rb.err()).isZero();
        assertThat(rb.json().get("rolled_back").asLong()).isEqualTo(2);
        JsonNode models = Cli.run("models", "--store=" + store, "--name=tiny", "--json").json();
        assertThat(models.get(0).get("status").asText()).isEqualTo("serving");
        assertThat(models.get(1).get("status").asText()).isEqualTo("rolled-back");
        assertThat(models.get(1).get("reason").asText()).contains("worse on live labels");
        List<ConsumerRecord<byte[], byte[]>> recs = readAll("rb-updates", 3);
        ConsumerRecord<byte[], byte[]> last = recs.get(recs.size() - 1);
        assertThat(ModelRefJson.fromBytes(last.value()).version()).as("read as serve v1 by a build without actions")
                .isEqualTo(1);
        assertThat(new String(last.headers().lastHeader("crmn-action").value())).isEqualTo("rollback");
        assertThat(new String(last.headers().lastHeader("crmn-replaces").value())).isEqualTo("2");
    }

    @Test
    void publishIsIdempotentSoAFailedAnnouncementCanBeRetried() throws Exception {
        kafka.createTopic("p-updates", 1, Map.of("cleanup.policy", "compact"));
        Path ck = Checkpoints2.tiny(dir.resolve("retry-ck"), 4, 3L);
        String store = dir.resolve("retry-store").toUri().toString();
        // published earlier without an announcement (e.g. the broker was down then)
        Cli.Run first = Cli.run("publish", "--model=" + ck, "--store=" + store, "--json");
        assertThat(first.code()).as(first.err()).isZero();
        Cli.Run again = Cli.run("publish", "--model=" + ck, "--store=" + store, "--announce", "--topic=p-updates",
                "--bootstrap-servers=" + kafka.bootstrapServers(), "--json");
        assertThat(again.code()).as(again.err()).isZero();
        assertThat(again.json()).isEqualTo(first.json());
        List<ConsumerRecord<byte[], byte[]>> recs = readAll("p-updates", 1);
        assertThat(recs).hasSize(1);
        ModelRef ref = ModelRefJson.fromBytes(recs.get(0).value());
        assertThat(ref.version()).isEqualTo(4);
        assertThat(ref.parentVersion()).isEqualTo(3L);
        assertThat(new ModelStore(store).list("tiny")).hasSize(1);
        Path other = Checkpoints2.tiny(dir.resolve("retry-other"), 4, 3L, 77);
        Cli.Run conflict = Cli.run("publish", "--model=" + other, "--store=" + store);
        assertThat(conflict.code()).isNotZero();
        assertThat(conflict.err()).contains("another checkpoint");
        Cli.Run models = Cli.run("models", "--store=" + store, "--name=tiny", "--json");
        assertThat(models.code()).isZero();
        JsonNode v = models.json().get(0);
        assertThat(v.get("version").asLong()).isEqualTo(4);
        assertThat(v.get("parent_version").asLong()).isEqualTo(3);
        assertThat(v.get("verified").asBoolean()).isTrue();
        assertThat(v.get("uri").asText()).startsWith("file:///");
        assertThat(v.has("metrics")).isTrue();
        assertThat(v.get("status").asText()).as("announced by crmn publish --announce").isEqualTo("serving");
        assertThat(v.get("reason").asText()).contains("crmn publish --announce");
        assertThat(v.get("status_history")).hasSize(1); // published without, then with --announce
    }

    @Test
    void produceSkipsBadImagesSendsFlatFoldersAndSendsFilesAsIs() throws Exception {
        Path flat = Files.createDirectories(dir.resolve("flat"));
        byte[] good = Images.png(Images.gradient(32, 32));
        Files.write(flat.resolve("a.png"), good);
        Files.write(flat.resolve("b.png"), java.util.Arrays.copyOf(good, good.length / 2)); // truncated
        Files.write(flat.resolve("c.png"), Images.pngHeaderClaiming(100_000, 100_000));    // decompression bomb
        Files.writeString(flat.resolve("notes.txt"), "not an image");
        Cli.Run r = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=pf-frames",
                "--data=" + flat, "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.json().get("frames").asInt()).isEqualTo(1);
        assertThat(r.json().get("skipped").get("corrupt").asInt()).isEqualTo(1);
        assertThat(r.json().get("skipped").get("too_large").asInt()).isEqualTo(1);
        assertThat(r.json().get("not_images").asInt()).isEqualTo(1);
        assertThat(r.err()).contains("b.png").contains("c.png");
        Cli.Run strict = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=pf-frames",
                "--data=" + flat, "--strict");
        assertThat(strict.code()).isNotZero();
        assertThat(strict.err()).contains("produce: error: " + flat.resolve("b.png")).doesNotContain("\tat ");
        Cli.Run labels = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=pf-frames",
                "--data=" + flat, "--labels");
        assertThat(labels.code()).isNotZero();
        assertThat(labels.err()).contains("class subfolders");
        Cli.Run asIs = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=pf-asis",
                "--data=" + flat, "--as-is", "--json");
        assertThat(asIs.code()).as(asIs.err()).isZero();
        assertThat(asIs.json().get("frames").asInt()).isEqualTo(4);
        List<ConsumerRecord<byte[], byte[]>> sent = readAll("pf-asis", 4);
        assertThat(sent).hasSize(4);
        assertThat(sent.get(1).value()).isEqualTo(Files.readAllBytes(flat.resolve("b.png")));
        assertThat(new String(sent.get(1).headers().lastHeader("content-type").value(), StandardCharsets.UTF_8))
                .isEqualTo("image/png");
        assertThat(sent.get(3).headers().lastHeader("content-type")).as("notes.txt: no content type").isNull();
    }

    @Test
    void produceCorruptDriftsEveryImageReproduciblyAndRefusesWhatItCannotDo() throws Exception {
        java.nio.file.Path batch = dev.crmn.model.testutil.TestData.testBatch();
        for (String topic : List.of("drift-a", "drift-b")) {
            Cli.Run r = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=" + topic,
                    "--data=" + batch, "--format=raw", "--limit=4", "--corrupt=blur:4", "--seed=5", "--json");
            assertThat(r.code()).as(r.err()).isZero();
            assertThat(r.json().get("corruption").asText()).isEqualTo("blur:4");
            assertThat(r.json().get("seed").asLong()).isEqualTo(5);
        }
        List<ConsumerRecord<byte[], byte[]>> a = readAll("drift-a", 4);
        List<ConsumerRecord<byte[], byte[]>> b = readAll("drift-b", 4);
        dev.crmn.model.data.ImageSet originals = dev.crmn.model.data.ImageSet.load(List.of(batch), 4);
        dev.crmn.model.data.Corruption blur = dev.crmn.model.data.Corruption.parse("blur:4");
        for (int i = 0; i < 4; i++) {
            assertThat(a.get(i).value()).as("the same command, the same frames").isEqualTo(b.get(i).value());
            assertThat(a.get(i).value()).as("image %d blurred", i)
                    .isEqualTo(blur.apply(originals.image(i), i, 5).pixels())
                    .isNotEqualTo(originals.image(i).pixels());
        }
        Cli.Run unknown = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=drift-a",
                "--data=" + batch, "--corrupt=fog");
        assertThat(unknown.code()).isNotZero();
        assertThat(unknown.err()).contains("--corrupt fog: unknown corruption 'fog' (one of brightness, contrast,"
                + " gaussian-noise, blur, tint, jpeg)").doesNotContain("\tat ");
        Cli.Run asIs = Cli.run("produce", "--bootstrap-servers=" + kafka.bootstrapServers(), "--topic=drift-a",
                "--data=" + dir, "--as-is", "--corrupt=blur");
        assertThat(asIs.code()).isNotZero();
        assertThat(asIs.err()).contains("--as-is sends the files unchanged");
    }

    @Test
    void aSecondBrokerOnTheSameDataOrPortIsRefusedWithoutHarmingTheFirst() throws Exception {
        Path data = dir.resolve("broker-data");
        try (EmbeddedKafka first = EmbeddedKafka.start(0, data, Map.of())) {
            first.createTopic("still-here", 1);
            Cli.Run second = Cli.run("broker", "--data-dir=" + data, "--port=0");
            assertThat(second.code()).isNotZero();
            assertThat(second.err()).contains("already running on " + data).hasLineCount(1);
            int port = Integer.parseInt(first.bootstrapServers().substring(first.bootstrapServers().lastIndexOf(':') + 1));
            Cli.Run clash = Cli.run("broker", "--data-dir=" + dir.resolve("other-data"), "--port=" + port);
            assertThat(clash.code()).isNotZero();
            assertThat(clash.err()).contains("port " + port + " is in use").hasLineCount(1);
            assertThat(dir.resolve("other-data")).as("nothing touched").doesNotExist();
            try (var admin = first.admin()) {
                assertThat(admin.listTopics().names().get()).contains("still-here");
            }
            try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(Map.of(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG,
                    first.bootstrapServers()), new ByteArraySerializer(), new ByteArraySerializer())) {
                p.send(new ProducerRecord<>("still-here", "ok".getBytes())).get();
            }
        }
    }
}
