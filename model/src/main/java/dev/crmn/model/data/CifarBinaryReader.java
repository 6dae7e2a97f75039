package dev.crmn.model.data;

import java.io.BufferedInputStream;
import java.io.Closeable;
import java.io.DataInputStream;
import java.io.EOFException;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.NoSuchElementException;

/**
 * Streams records of the CIFAR-10 / CIFAR-100 binary formats: per record the label byte(s) (CIFAR-10:
 * one; CIFAR-100: coarse then fine), then 1024 red, 1024 green and 1024 blue bytes, each plane row-major
 * 32x32. Records come out as interleaved RGB {@link PixelImage}s. Not thread-safe; close it when done.
 *
 * <pre>{@code
 * try (CifarBinaryReader r = CifarBinaryReader.open(Path.of("test_batch.bin"), CifarFormat.CIFAR10)) {
 *     while (r.hasNext()) { LabelledImage li = r.next(); ... }
 * }
 * }</pre>
 */
public final class CifarBinaryReader implements Iterator<LabelledImage>, Closeable {

    public static final int SIDE = 32;
    public static final int PLANE = SIDE * SIDE;
    public static final int PIXEL_BYTES = 3 * PLANE;
    /** CIFAR-10's class names, in label order (what {@code batches.meta.txt} lists). */
    public static final List<String> CIFAR10_LABELS = List.of("airplane", "automobile", "bird", "cat", "deer", "dog",
            "frog", "horse", "ship", "truck");

    /** The two CIFAR binary layouts. */
    public enum CifarFormat {
        CIFAR10(1, 10),
        /** Fine labels (100 classes) are used; the coarse label is skipped. */
        CIFAR100(2, 100);

        private final int labelBytes;
        private final int classes;

        CifarFormat(int labelBytes, int classes) {
            this.labelBytes = labelBytes;
            this.classes = classes;
        }

        public int recordBytes() {
            return labelBytes + PIXEL_BYTES;
        }

        public int classes() {
            return classes;
        }
    }

    private final DataInputStream in;
    private final CifarFormat format;
    private final String source;
    private final byte[] record;
    private LabelledImage next;
    private long index;

    private CifarBinaryReader(InputStream in, CifarFormat format, String source) {
        this.in = new DataInputStream(new BufferedInputStream(in, 1 << 16));
        this.format = format;
        this.source = source;
        this.record = new byte[format.recordBytes()];
    }

    public static CifarBinaryReader open(Path file, CifarFormat format) throws IOException {
        return new CifarBinaryReader(Files.newInputStream(file), format, file.toString());
    }

    public static CifarBinaryReader of(InputStream in, CifarFormat format) {
        return new CifarBinaryReader(in, format, "stream");
    }

    /**
     * The format of a file: {@code data_batch_*}/{@code test_batch*} are CIFAR-10, {@code train.bin}/
     * {@code test.bin} CIFAR-100; otherwise whichever record size divides the file size.
     */
    public static CifarFormat detect(Path file) throws IOException {
        String name = file.getFileName().toString();
        if (name.startsWith("data_batch") || name.startsWith("test_batch")) {
            return CifarFormat.CIFAR10;
        }
        if (name.equals("train.bin") || name.equals("test.bin")) {
            return CifarFormat.CIFAR100;
        }
        long size = Files.size(file);
        boolean ten = size % CifarFormat.CIFAR10.recordBytes() == 0;
        boolean hundred = size % CifarFormat.CIFAR100.recordBytes() == 0;
        if (ten && !hundred) {
            return CifarFormat.CIFAR10;
        }
        if (hundred && !ten) {
            return CifarFormat.CIFAR100;
        }
        throw new IOException("cannot tell whether " + file + " is CIFAR-10 or CIFAR-100 (" + size
                + " bytes): name it like the originals, data_batch_N.bin / test_batch.bin (CIFAR-10) or train.bin /"
                + " test.bin (CIFAR-100)");
    }

    /**
     * Class names for a CIFAR file: {@code batches.meta.txt} (CIFAR-10) or {@code fine_label_names.txt}
     * (CIFAR-100) beside it, else {@link #placeholderNames} ("class_0", "class_1", ...)
     */
    public static List<String> classNames(Path file, CifarFormat format) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        Path meta = dir.resolve(format == CifarFormat.CIFAR10 ? "batches.meta.txt" : "fine_label_names.txt");
        List<String> names = new ArrayList<>();
        if (Files.isRegularFile(meta)) {
            for (String line : Files.readAllLines(meta)) {
                if (!line.isBlank()) {
                    names.add(line.trim());
                }
            }
        }
        return names.size() == format.classes() ? names : placeholderNames(format.classes());
    }

    /** {@code class_0, class_1, ...}: the names of classes whose file carries none. */
    public static List<String> placeholderNames(int classes) {
        List<String> names = new ArrayList<>(classes);
        for (int i = 0; i < classes; i++) {
            names.add("class_" + i);
        }
        return names;
    }

    @Override
    public boolean hasNext() {
        if (next == null) {
            next = readRecord();
        }
        return next != null;
    }

    @Override
    public LabelledImage next() {
        if (!hasNext()) {
            throw new NoSuchElementException();
        }
        LabelledImage r = next;
        next = null;
        return r;
    }

    private LabelledImage readRecord() {
        try {
            int first = in.read();
            if (first < 0) {
                return null;
            }
            record[0] = (byte) first;
            try {
                in.readFully(record, 1, record.length - 1);
            } catch (EOFException e) {
                throw new UncheckedIOException(new IOException(source + ": truncated record " + index
                        + " (file size is not a multiple of " + record.length + " bytes)", e));
            }
            int label = record[format.labelBytes - 1] & 0xFF;
            if (label >= format.classes()) {
                throw new UncheckedIOException(new IOException(source + ": record " + index + " has label " + label
                        + ", outside 0.." + (format.classes() - 1)));
            }
            byte[] rgb = new byte[PIXEL_BYTES];
            int o = format.labelBytes;
            for (int p = 0; p < PLANE; p++) {
                rgb[3 * p] = record[o + p];
                rgb[3 * p + 1] = record[o + PLANE + p];
                rgb[3 * p + 2] = record[o + 2 * PLANE + p];
            }
            index++;
            return new LabelledImage(new PixelImage(SIDE, SIDE, 3, rgb), label);
        } catch (IOException e) {
            throw new UncheckedIOException(source + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() throws IOException {
        in.close();
    }
}
