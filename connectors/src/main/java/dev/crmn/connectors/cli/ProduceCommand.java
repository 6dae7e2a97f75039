package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.FrameRecords;
import dev.crmn.connectors.image.ContentType;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.model.cli.CliSupport;
import dev.crmn.model.cli.Progress;
import dev.crmn.model.data.CifarBinaryReader;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.ImageFolderReader;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.data.Skipped;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import java.util.stream.Stream;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * {@code crmn produce}: stream CIFAR binary files or image folders to a frames topic. Images are sent as PNG
 * (or raw) frames; {@code --as-is} sends files' bytes unchanged. An image that does not decode is skipped and
 * counted (the reasons are listed at the end) unless {@code --strict}.
 */
@Command(name = "produce", mixinStandardHelpOptions = true,
        description = {"Send images to a frames topic as PNG or raw frames, the way docs/wire-format.md describes them.",
                "--data takes CIFAR .bin files, image folders with class subfolders (ROOT/<class>/<image>), or flat folders"
                        + " of images (no labels)."})
public final class ProduceCommand implements Callable<Integer> {

    @Mixin
    KafkaCliOptions kafka;

    @Unmatched
    List<String> kafkaProperties = new ArrayList<>();

    @Option(names = "--topic", defaultValue = "frames", description = "Topic (default: ${DEFAULT-VALUE}).")
    String topic;

    @Option(names = "--data", split = ",", description = "CIFAR-10/100 .bin files or image folders; a bare file name"
            + " (test_batch.bin) is taken from the CIFAR-10 copy the tools find (./crmn data where) (default: test_batch.bin).")
    List<Path> data;

    @Option(names = "--format", defaultValue = "png", description = "Frame encoding: png or raw (default: ${DEFAULT-VALUE}).")
    String format;

    @Option(names = "--as-is", description = "Send each file's bytes unchanged (image folders only), with a content type"
            + " from its extension or --content-type: exercises the dead-letter path with real files.")
    boolean asIs;

    @Option(names = "--content-type", description = "With --as-is: the content-type header of every frame (default: from"
            + " the extension: .png image/png, .jpg/.jpeg image/jpeg, else none).")
    String contentType;

    @Option(names = "--rate", defaultValue = "0", description = "Frames per second; 0 = as fast as possible (default).")
    double rate;

    @Option(names = "--limit", defaultValue = "0", description = "Send at most this many frames (0 = all).")
    int limit;

    @Option(names = "--skip", defaultValue = "0", description = "Skip this many images of the data first.")
    int skip;

    @Option(names = "--labels", description = "Send each image's class in the label header (needs CIFAR files or class subfolders).")
    boolean labels;

    @Option(names = "--label-format", defaultValue = "index", description = "index or name (default: ${DEFAULT-VALUE}).")
    String labelFormat;

    @Option(names = "--key", description = "Record key (stream / camera id) for every frame; default none.")
    String key;

    @Option(names = "--frame-id-prefix", description = "frame-id = <prefix><n>; default <data file name>-<n>.")
    String frameIdPrefix;

    @Option(names = "--partitions", defaultValue = "1", description = "Partitions if the topic must be created (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Option(names = "--strict", description = "Stop at the first image that does not decode (default: skip and count it).")
    boolean strict;

    @picocli.CommandLine.Mixin
    dev.crmn.model.cli.CorruptionOptions drift = new dev.crmn.model.cli.CorruptionOptions(); // not with --as-is

    @Option(names = "--json", description = "Print one JSON summary.")
    boolean json;

    /** The place of the next decoded image in the stream (what --corrupt's noise depends on, with --seed). */
    private long imageIndex;

    /** One frame to send: its bytes, content-type header (or null), label header (or null). */
    private record Item(byte[] value, String contentType, String label) {
    }

    @Override
    public Integer call() throws Exception {
        boolean raw = switch (format) {
            case "png" -> false;
            case "raw" -> true;
            default -> throw new IllegalArgumentException("--format must be png or raw, got " + format);
        };
        if (!labelFormat.equals("index") && !labelFormat.equals("name")) {
            throw new IllegalArgumentException("--label-format must be index or name, got " + labelFormat);
        }
        if (contentType != null && !asIs) {
            throw new IllegalArgumentException("--content-type applies to --as-is frames");
        }
        dev.crmn.model.data.Corruption corruption = drift.corruption();
        if (corruption != null && asIs) {
            throw new IllegalArgumentException("--corrupt changes decoded images; --as-is sends the files unchanged");
        }
        data = dev.crmn.model.data.Cifar10Dir.files(data, List.of("test_batch.bin"), note -> System.err.println("produce: " + note));
        for (Path p : data) {
            if (!Files.exists(p)) {
                throw new IOException("data " + p + " not found");
            }
            if (asIs && !Files.isDirectory(p)) {
                throw new IllegalArgumentException("--as-is sends the files of a folder; " + p + " is not one");
            }
        }
        KafkaOptions opts = kafka.toOptions(kafkaProperties);
        KafkaCliOptions.ensureTopic(opts, topic, partitions);
        Properties p = opts.toProperties();
        p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
        p.putIfAbsent(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.putIfAbsent(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "15000"); // a broker that stops answering: fail, don't hang
        String prefix = frameIdPrefix != null ? frameIdPrefix : data.get(0).getFileName().toString() + "-";
        Skipped skipped = new Skipped();
        AtomicLong acked = new AtomicLong();
        AtomicReference<Exception> failure = new AtomicReference<>();
        long start = System.nanoTime();
        Progress progress = new Progress();
        int sent = 0;
        int index = 0;
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
             Stream<Item> items = items(raw, skipped)) {
            var it = items.iterator();
            while (it.hasNext() && failure.get() == null && (limit <= 0 || sent < limit)) {
                Item item = it.next();
                int n = index++;
                if (n < skip) {
                    continue;
                }
                if (rate > 0) {
                    long wait = start + (long) (sent * 1e9 / rate) - System.nanoTime();
                    if (wait > 0) {
                        Thread.sleep(wait / 1_000_000, (int) (wait % 1_000_000)); // pacing, not synchronisation
                    }
                }
                ProducerRecord<byte[], byte[]> rec = FrameRecords.record(topic, key, item.value(), item.contentType(),
                        prefix + n, System.currentTimeMillis(), item.label());
                producer.send(rec, (md, e) -> {
                    if (e != null) {
                        failure.compareAndSet(null, e);
                    } else {
                        acked.incrementAndGet();
                    }
                });
                sent++;
                progress.update(status(sent, (System.nanoTime() - start) / 1e9));
            }
            producer.flush();
        } catch (UncheckedIOException e) {
            progress.clear();
            throw e.getCause(); // --strict: an image that does not decode
        }
        double seconds = (System.nanoTime() - start) / 1e9;
        if (failure.get() != null) {
            progress.clear();
            throw new IOException("sending failed after " + acked.get() + " frames: " + failure.get().getMessage());
        }
        progress.done(status(sent, seconds));
        if (!skipped.isEmpty()) {
            System.err.println("produce: " + skipped.summary());
        }
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("topic", topic);
            doc.put("frames", acked.get());
            doc.put("format", asIs ? "as-is" : format);
            doc.put("labels", labels);
            doc.put("corruption", corruption == null ? null : corruption.toString());
            doc.put("seed", corruption == null ? null : drift.seed());
            doc.put("skipped", skipped.byReason());
            doc.put("not_images", skipped.notImages());
            doc.put("seconds", seconds);
            doc.put("frames_per_s", acked.get() / seconds);
            CliSupport.printJson(doc);
        } else {
            System.out.printf("sent %d %s frames%s to %s in %.1f s (%.0f frames/s)%n", acked.get(), asIs ? "as-is" : format,
                    corruption == null ? "" : " (" + corruption + ", seed " + drift.seed() + ")", topic, seconds,
                    acked.get() / seconds);
        }
        return 0;
    }

    /** The frames of every source, in order, read lazily. */
    private Stream<Item> items(boolean raw, Skipped skipped) throws IOException {
        Stream<Item> all = Stream.empty();
        for (Path src : data) {
            all = Stream.concat(all, Files.isDirectory(src) ? folder(src, raw, skipped) : cifar(src, raw));
        }
        return all;
    }

    private Stream<Item> cifar(Path file, boolean raw) throws IOException {
        CifarBinaryReader.CifarFormat fmt = CifarBinaryReader.detect(file);
        List<String> names = CifarBinaryReader.classNames(file, fmt);
        CifarBinaryReader reader = CifarBinaryReader.open(file, fmt);
        Iterable<LabelledImage> images = () -> reader;
        return java.util.stream.StreamSupport.stream(images.spliterator(), false)
                .map(li -> encoded(li.image(), raw, labels ? label(li.label(), names) : null))
                .onClose(() -> {
                    try {
                        reader.close();
                    } catch (IOException e) {
                        throw new UncheckedIOException(e);
                    }
                });
    }

    private Stream<Item> folder(Path root, boolean raw, Skipped skipped) throws IOException {
        ImageFolderReader folder = ImageFolderReader.open(root);
        if (labels && !folder.labelled()) {
            throw new IllegalArgumentException("--labels needs class subfolders (ROOT/<class>/<image>); " + root
                    + " is a flat folder");
        }
        if (asIs) {
            List<Path> files = new ArrayList<>(folder.entries().stream().map(ImageFolderReader.Entry::file).toList());
            files.addAll(folder.ignored().stream().filter(Files::isRegularFile).toList());
            files.sort(null);
            return files.stream().map(f -> {
                String cls = f.getParent().equals(root) ? null : f.getParent().getFileName().toString();
                int idx = cls == null ? -1 : folder.classNames().indexOf(cls);
                try {
                    return new Item(Files.readAllBytes(f), contentType != null ? contentType : typeOf(f),
                            labels && idx >= 0 ? label(idx, folder.classNames()) : null);
                } catch (IOException e) {
                    throw new UncheckedIOException(f + ": " + e.getMessage(), e);
                }
            });
        }
        skipped.notImages(folder.ignored().size());
        return folder.entries().stream().map(e -> {
            try {
                return encoded(ImageFolderReader.decode(e), raw, labels ? label(e.label(), folder.classNames()) : null);
            } catch (ImageBytes.DecodeException ex) {
                if (strict) {
                    throw new UncheckedIOException(ex);
                }
                skipped.image(e.file(), ex.failure().name().toLowerCase(Locale.ROOT), ex.getMessage());
                return null;
            } catch (IOException ex) {
                throw new UncheckedIOException(e.file() + ": " + ex.getMessage(), ex);
            }
        }).filter(java.util.Objects::nonNull);
    }

    private String label(int index, List<String> names) {
        return labelFormat.equals("name") ? names.get(index) : Integer.toString(index);
    }

    private Item encoded(PixelImage original, boolean raw, String label) {
        long n = imageIndex++;
        PixelImage img = drift.apply(original, n);
        if (raw) {
            ContentType t = ContentType.raw(img.channels() == 3 ? ContentType.RawFormat.RGB8 : ContentType.RawFormat.GRAY8,
                    img.width(), img.height());
            return new Item(img.pixels(), t.headerValue(), label);
        }
        try {
            return new Item(ImageBytes.png(img), ContentType.png().headerValue(), label);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** The content type a file's extension names, or null (consumers then sniff the bytes). */
    static String typeOf(Path f) {
        String n = f.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".png") ? ContentType.PNG_TYPE
                : n.endsWith(".jpg") || n.endsWith(".jpeg") ? ContentType.JPEG_TYPE : null;
    }

    private static String status(int sent, double seconds) {
        return String.format("produce: %d frames sent  %.0f frames/s", sent, sent / Math.max(seconds, 1e-9));
    }
}
