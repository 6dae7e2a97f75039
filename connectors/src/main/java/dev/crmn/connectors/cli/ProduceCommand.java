package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.model.cli.CliSupport;
import dev.crmn.model.cli.Progress;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import javax.imageio.ImageIO;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/** {@code crmn produce}: stream a CIFAR binary file or an image folder to the frames topic. */
@Command(name = "produce", mixinStandardHelpOptions = true,
        description = "Send images (CIFAR .bin files or an image folder) to a frames topic as PNG or raw frames.")
public final class ProduceCommand implements Callable<Integer> {

    @Mixin
    KafkaCliOptions kafka;

    @Unmatched
    List<String> kafkaProperties = new java.util.ArrayList<>();

    @Option(names = "--topic", defaultValue = "frames", description = "Topic (default: ${DEFAULT-VALUE}).")
    String topic;

    @Option(names = "--data", required = true, split = ",", description = "CIFAR-10/100 .bin files or image folders.")
    List<Path> data;

    @Option(names = "--format", defaultValue = "png", description = "png or raw (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--rate", defaultValue = "0", description = "Frames per second; 0 = as fast as possible (default).")
    double rate;

    @Option(names = "--limit", defaultValue = "0", description = "Send at most this many frames (0 = all).")
    int limit;

    @Option(names = "--skip", defaultValue = "0", description = "Skip this many images of the data first.")
    int skip;

    @Option(names = "--labels", description = "Send each image's class in the label header.")
    boolean labels;

    @Option(names = "--label-format", defaultValue = "index", description = "index or name (default: ${DEFAULT-VALUE}).")
    String labelFormat;

    @Option(names = "--key", description = "Record key (stream / camera id) for every frame; default none.")
    String key;

    @Option(names = "--frame-id-prefix", description = "frame-id = <prefix><n>; default <data file name>-<n>.")
    String frameIdPrefix;

    @Option(names = "--partitions", defaultValue = "1", description = "Partitions if the topic must be created (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--json", description = "Print one JSON summary.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        boolean raw = switch (format) {
            case "png" -> false;
            case "raw" -> true;
            default -> throw new IllegalArgumentException("--format must be png or raw, got " + format);
        };
        KafkaOptions opts = kafka.toOptions(kafkaProperties);
        ImageSet set = ImageSet.load(data, limit > 0 ? skip + limit : 0);
        ensureTopic(opts, topic, partitions);
        Properties p = opts.toProperties();
        p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
        p.putIfAbsent(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
        String prefix = frameIdPrefix != null ? frameIdPrefix : data.get(0).getFileName().toString() + "-";
        int total = set.size() - Math.min(skip, set.size());
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> failure = new AtomicReference<>();
        long start = System.nanoTime();
        Progress progress = new Progress();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            for (int n = 0; n < total; n++) {
                int i = skip + n;
                if (failure.get() != null) {
                    break;
                }
                if (rate > 0) {
                    long due = start + (long) (n * 1e9 / rate);
                    long wait = due - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000)); // pacing, not synchronisation
                    }
                }
                PixelImage img = set.image(i);
                ContentType type = raw ? ContentType.raw(img.channels() == 3 ? ContentType.RawFormat.RGB8
                        : ContentType.RawFormat.GRAY8, img.width(), img.height()) : ContentType.png();
                String label = null;
                if (labels) {
                    label = labelFormat.equals("name") ? set.classNames().get(set.label(i)) : Integer.toString(set.label(i));
                }
                ProducerRecord<byte[], byte[]> rec = FrameRecords.record(topic, key, raw ? img.pixels() : png(img), type,
                        prefix + i, System.currentTimeMillis(), label);
                producer.send(rec, (md, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    } else {
                        acked.incrementAndGet();
                    }
                });
                progress.update(status(n + 1, total, (System.nanoTime() - start) / 1e9));
            }
            producer.flush();
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        if (failure.get() != null) {
            progress.clear();
            System.err.println("error: sending failed after " + acked.get() + " frames: " + failure.get().getMessage());
            return 1;
        }
        progress.done(status(total, total, seconds));
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("topic", topic);
            doc.put("frames", acked.get());
            doc.put("format", format);
            doc.put("labels", labels);
            doc.put("seconds", seconds);
            doc.put("frames_per_s", acked.get() / seconds);
            CliSupport.printJson(doc);
        } else {
            System.out.printf("sent %d %s frames to %s in %.1f s (%.0f frames/s)%n", acked.get(), format, topic, seconds,
                    acked.get() / seconds);
        }
        return 0;
    }

    private static String status(int done, int total, double seconds) {
        int width = 30;
        int filled = total == 0 ? width : (int) ((long) done * width / total);
        return String.format("[%s%s] %d/%d frames  %.0f frames/s", "#".repeat(filled), ".".repeat(width - filled), done,
                total, done / Math.max(seconds, 1e-9));
    }

    static void ensureTopic(KafkaOptions opts, String topic, int partitions) throws IOException, InterruptedException {
        Admin admin = Admin.create(opts.toProperties());
        try {
            java.util.Set<String> topics;
            try {
                topics = admin.listTopics().names().get(15, java.util.concurrent.TimeUnit.SECONDS);
            } catch (java.util.concurrent.TimeoutException e) {
                throw new IOException("cannot reach Kafka at " + opts.bootstrapServers() + " within 15 s"
                        + " (start one with ./crmn broker, or pass --bootstrap-servers)");
            }
            if (!topics.contains(topic)) {
                admin.createTopics(List.of(new NewTopic(topic, partitions, (short) -1))).all().get();
                System.err.println("created topic " + topic + " with " + partitions + " partition(s)");
            }
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IOException("cannot check or create topic " + topic + ": " + e.getCause().getMessage(), e.getCause());
            }
        } finally {
            admin.close(java.time.Duration.ofSeconds(2)); // do not wait out the API timeout on an unreachable broker
        }
    }

    static byte[] png(PixelImage img) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(img.toBufferedImage(), "png", out);
        return out.toByteArray();
    }
}
