package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.connectors.kafka.FrameDeserializationSchema;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.model.cli.CliSupport;
import dev.crmn.model.cli.Progress;
import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.UUID;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/** {@code crmn score}: accuracy, throughput and latency of a predictions topic against the labels sent. */
@Command(name = "score", mixinStandardHelpOptions = true,
        description = "Read predictions (read-committed), join them with the labels of their frames, report accuracy "
                + "overall and per model version, throughput and latency percentiles.")
public final class ScoreCommand implements Callable<Integer> {

    @Mixin
    KafkaCliOptions kafka;

    @Unmatched
    List<String> kafkaProperties = new java.util.ArrayList<>();

    @Option(names = "--predictions", defaultValue = "predictions", description = "Predictions topic (default: ${DEFAULT-VALUE}).")
    String predictionsTopic;

    @Option(names = "--frames", defaultValue = "frames", split = ",",
            description = "Frames topic(s) whose label headers are the truth (default: ${DEFAULT-VALUE}).")
    List<String> framesTopics;

    @Option(names = "--expect", defaultValue = "0", description = "Stop after this many predictions (0 = when idle).")
    int expect;

    @Option(names = "--idle-seconds", defaultValue = "10", description = "Stop after this long without a new prediction (default: ${DEFAULT-VALUE}).")
    double idleSeconds;

    @Option(names = "--timeout-seconds", defaultValue = "600", description = "Stop after this long in any case (default: ${DEFAULT-VALUE}).")
    double timeoutSeconds;

    @Option(names = "--labels-from", description = "A checkpoint whose class names resolve labels sent as names.")
    Path labelsFrom;

    @Option(names = "--json", description = "Print one JSON document.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        KafkaOptions opts = kafka.toOptions(kafkaProperties);
        Scorer scorer = new Scorer();
        Properties p = opts.toProperties();
        p.put(ConsumerConfig.GROUP_ID_CONFIG, "crmn-score-" + UUID.randomUUID());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.putIfAbsent(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        long start = System.nanoTime();
        long lastNew = start;
        Progress progress = new Progress();
        try (KafkaConsumer<byte[], byte[]> preds = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
             KafkaConsumer<byte[], byte[]> frames = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            preds.subscribe(List.of(predictionsTopic));
            frames.subscribe(framesTopics);
            while (true) {
                for (ConsumerRecord<byte[], byte[]> r : frames.poll(Duration.ofMillis(50))) {
                    scorer.addFrame(FrameDeserializationSchema.toFrame(r));
                }
                for (ConsumerRecord<byte[], byte[]> r : preds.poll(Duration.ofMillis(200))) {
                    lastNew = System.nanoTime();
                    try {
                        scorer.addPrediction(PredictionJson.fromBytes(r.value()));
                    } catch (IOException | RuntimeException e) {
                        scorer.addUnreadable();
                    }
                }
                long now = System.nanoTime();
                if ((expect > 0 && scorer.predictions() >= expect) || (now - lastNew) / 1e9 > idleSeconds
                        || (now - start) / 1e9 > timeoutSeconds) {
                    break;
                }
                progress.update("score: " + scorer.predictions() + " predictions read");
            }
            // frames are read to their end so that every prediction can be joined
            for (int empty = 0; empty < 3; ) {
                var batch = frames.poll(Duration.ofMillis(200));
                empty = batch.isEmpty() ? empty + 1 : 0;
                for (ConsumerRecord<byte[], byte[]> r : batch) {
                    scorer.addFrame(FrameDeserializationSchema.toFrame(r));
                }
            }
        }
        progress.done("score: " + scorer.predictions() + " predictions read");
        if (scorer.predictions() == 0) {
            System.err.println("score: no committed predictions on " + predictionsTopic + " at " + opts.bootstrapServers()
                    + " (is the broker reachable and the inference job writing?)");
        }
        List<String> labels = labelsFrom == null ? List.of()
                : dev.crmn.model.checkpoint.Checkpoints.readManifest(dev.crmn.model.checkpoint.Checkpoints
                .directoryOf(labelsFrom).resolve(dev.crmn.model.checkpoint.Checkpoints.MANIFEST)).labels();
        Map<String, Object> report = scorer.report(labels.isEmpty() ? defaultLabels() : labels);
        if (json) {
            CliSupport.printJson(report);
        } else {
            System.out.printf("predictions %s (unreadable %s, duplicates %s), labelled %s%n", report.get("predictions"),
                    report.get("unreadable"), report.get("duplicates"), report.get("labelled"));
            System.out.printf("accuracy    %s%n", report.get("accuracy") == null ? "n/a" : String.format("%.4f", (Double) report.get("accuracy")));
            System.out.printf("per model   %s%n", report.get("per_model"));
            System.out.printf("throughput  %s predictions/s%n", report.get("throughput_per_s") == null ? "n/a"
                    : String.format("%.1f", (Double) report.get("throughput_per_s")));
            System.out.printf("latency ms  %s%n", report.get("latency_ms"));
        }
        return 0;
    }

    /** CIFAR-10 class names, for labels sent by name without --labels-from. */
    static List<String> defaultLabels() {
        return dev.crmn.model.data.CifarBinaryReader.CIFAR10_LABELS;
    }
}
