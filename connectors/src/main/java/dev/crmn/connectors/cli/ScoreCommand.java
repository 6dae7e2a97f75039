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
import dev.crmn.model.checkpoint.Checkpoints;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
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
        Set<String> existing = KafkaCliOptions.topics(opts);
        if (!existing.contains(predictionsTopic)) {
            throw new IOException("topic " + predictionsTopic + " does not exist at " + opts.bootstrapServers()
                    + " (is the inference job running?)");
        }
        Scorer scorer = new Scorer();
        Properties p = opts.toProperties();
        p.remove(ConsumerConfig.GROUP_ID_CONFIG); // partitions are assigned, not subscribed: no group, no rebalance
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.putIfAbsent(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        long start = System.nanoTime();
        long lastNew = start;
        Progress progress = new Progress();
        try (KafkaConsumer<byte[], byte[]> preds = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
             KafkaConsumer<byte[], byte[]> frames = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            assignFromBeginning(preds, List.of(predictionsTopic));
            List<String> labelTopics = framesTopics.stream().filter(existing::contains).toList();
            for (String t : framesTopics) {
                if (!existing.contains(t)) {
                    System.err.println("score: frames topic " + t + " does not exist at " + opts.bootstrapServers()
                            + "; no labels are read from it");
                }
            }
            assignFromBeginning(frames, labelTopics);
            boolean readLabels = !frames.assignment().isEmpty(); // a consumer with nothing assigned may not poll
            while (true) {
                if (readLabels) {
                    for (ConsumerRecord<byte[], byte[]> r : frames.poll(Duration.ZERO)) {
                        scorer.addFrame(FrameDeserializationSchema.toFrame(r));
                    }
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
            // the frames are read to their (committed) end, so that every prediction can be joined with its label
            Map<TopicPartition, Long> end = readLabels ? frames.endOffsets(frames.assignment()) : Map.of();
            while (end.entrySet().stream().anyMatch(e -> frames.position(e.getKey()) < e.getValue())) {
                for (ConsumerRecord<byte[], byte[]> r : frames.poll(Duration.ofMillis(200))) {
                    scorer.addFrame(FrameDeserializationSchema.toFrame(r));
                }
            }
        }
        progress.done("score: " + scorer.predictions() + " predictions read");
        List<String> labels = labelsFrom == null ? defaultLabels()
                : Checkpoints.readManifest(Checkpoints.directoryOf(labelsFrom).resolve(Checkpoints.MANIFEST)).labels();
        Map<String, Object> report = scorer.report(labels);
        if (json) {
            CliSupport.printJson(report);
        } else {
            print(report);
        }
        if (scorer.predictions() == 0) {
            System.err.println("score: no committed predictions on " + predictionsTopic + " at " + opts.bootstrapServers()
                    + " within " + idleSeconds + " s (is the inference job writing?)");
            return 1;
        }
        if (expect > 0 && scorer.predictions() < expect) {
            System.err.println("score: expected " + expect + " predictions, read " + scorer.predictions());
            return 1;
        }
        return 0;
    }

    /** Assigns every partition of {@code topics} and seeks to their beginning. */
    private static void assignFromBeginning(KafkaConsumer<byte[], byte[]> consumer, List<String> topics) {
        List<TopicPartition> parts = new ArrayList<>();
        for (String t : topics) {
            for (PartitionInfo info : consumer.partitionsFor(t)) {
                parts.add(new TopicPartition(t, info.partition()));
            }
        }
        consumer.assign(parts);
        consumer.seekToBeginning(parts);
    }

    @SuppressWarnings("unchecked")
    private static void print(Map<String, Object> report) {
        System.out.printf("predictions  %s (unreadable %s, duplicates %s), labelled %s%n", report.get("predictions"),
                report.get("unreadable"), report.get("duplicates"), report.get("labelled"));
        System.out.printf("accuracy     %s%n", report.get("accuracy") == null ? "n/a"
                : String.format("%.4f", (Double) report.get("accuracy")));
        System.out.printf("throughput   %s predictions/s%n", report.get("throughput_per_s") == null ? "n/a"
                : String.format("%.1f", (Double) report.get("throughput_per_s")));
        Map<String, Map<String, Object>> models = (Map<String, Map<String, Object>>) report.get("per_model");
        if (!models.isEmpty()) {
            System.out.printf("%n%-28s %12s %10s %10s%n", "model", "predictions", "labelled", "accuracy");
            for (Map.Entry<String, Map<String, Object>> e : models.entrySet()) {
                double acc = ((Number) e.getValue().get("accuracy")).doubleValue();
                System.out.printf("%-28s %12s %10s %10s%n", e.getKey(), e.getValue().get("predictions"),
                        e.getValue().get("labelled"), Double.isNaN(acc) ? "n/a" : String.format("%.4f", acc));
            }
        }
        Map<String, Object> latency = (Map<String, Object>) report.get("latency_ms");
        if (!latency.isEmpty()) {
            System.out.printf("%nlatency ms   %s%n", String.join("  ", latency.entrySet().stream()
                    .map(e -> String.format("%s %.1f", e.getKey(), (Double) e.getValue())).toList()));
        }
    }

    /** CIFAR-10 class names, for labels sent by name without --labels-from. */
    static List<String> defaultLabels() {
        return dev.crmn.model.data.CifarBinaryReader.CIFAR10_LABELS;
    }
}
