package dev.crmn.model.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.URI;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.zip.GZIPInputStream;

/**
 * {@code crmn data fetch cifar10}: downloads the official CIFAR-10 binary archive ({@value #URL}), checks it against
 * the MD5 its authors publish ({@value #MD5}), and unpacks its files into a directory of their own
 * ({@code test_batch.bin}, {@code data_batch_1.bin} ... {@code data_batch_5.bin}, {@code batches.meta.txt}). A
 * partial download is kept beside the target ({@code <to>.download/}) and resumed with an HTTP range request; the
 * data appear in the target only once complete (unpacked into a temporary sibling, then renamed). A second copy
 * fetching to the same place at the same time is refused; a finished target is left alone.
 */
public final class Cifar10Fetch {

    public static final String URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz";
    /** "CIFAR-10 binary version (suitable for C programs)": the md5sum published beside the link. */
    public static final String MD5 = "c32a1d4ab5d03f1284b67883e8d87530";
    public static final String ARCHIVE = "cifar-10-binary.tar.gz";
    /** What the archive holds (under {@code cifar-10-batches-bin/}) and the unpacked directory must hold. */
    public static final List<String> FILES = List.of("batches.meta.txt", "data_batch_1.bin", "data_batch_2.bin",
            "data_batch_3.bin", "data_batch_4.bin", "data_batch_5.bin", "test_batch.bin");
    static final int RECORD_BYTES = 3073;

    /** Hears progress: {@code phase} is "download" or "unpack"; {@code total} is -1 when unknown. */
    public interface Listener {
        void progress(String phase, long done, long total);
    }

    /** What happened: where the data are, and whether anything was downloaded ({@code false}: already there). */
    public record Result(Path dir, boolean fetched, long downloadedBytes, boolean resumed) {
    }

    private final Path to;
    private final String from;
    private final String md5;
    private final Listener listener;
    private final HttpClient http;
    private Duration stallTimeout = Duration.ofSeconds(60);

    /**
     * @param to       the directory to unpack into
     * @param from     a URL (http, https, file) or the path of a copy of the archive; {@code null}: {@value #URL}
     * @param md5      the archive's expected MD5 (hex); {@code null}: {@value #MD5}
     * @param listener progress
     */
    public Cifar10Fetch(Path to, String from, String md5, Listener listener) {
        this.to = to.toAbsolutePath().normalize();
        this.from = from == null ? URL : from;
        this.md5 = (md5 == null ? MD5 : md5).toLowerCase(java.util.Locale.ROOT);
        this.listener = listener;
        this.http = HttpClient.newBuilder().followRedirects(HttpClient.Redirect.NORMAL)
                .connectTimeout(Duration.ofSeconds(20)).build();
    }

    /** How long a download may receive nothing before it is given up (kept for a resume); default 60 s. */
    public Cifar10Fetch stallTimeout(Duration d) {
        this.stallTimeout = d;
        return this;
    }

    /** The download folder beside the target, where the partial archive lives until it is complete and checked. */
    public Path downloadDir() {
        return to.resolveSibling(to.getFileName() + ".download");
    }

    /** True if {@code dir} holds every file of the data set, each {@code .bin} a whole number of records. */
    public static boolean complete(Path dir) {
        for (String f : FILES) {
            Path p = dir.resolve(f);
            try {
                if (!Files.isRegularFile(p) || (f.endsWith(".bin") && (Files.size(p) == 0 || Files.size(p) % RECORD_BYTES != 0))) {
                    return false;
                }
            } catch (IOException e) {
                return false;
            }
        }
        return true;
    }

    public Result run() throws IOException {
        if (complete(to)) {
            return new Result(to, false, 0, false);
        }
        if (Files.exists(to) && !isEmptyDir(to)) {
            throw new IOException(to + " exists but does not hold the complete data set: move it away or pick another --to");
        }
        Path dl = downloadDir();
        Files.createDirectories(dl);
        try (FileChannel lockFile = FileChannel.open(dl.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock lock = tryLock(lockFile)) {
            if (lock == null) {
                throw new IOException("another crmn data fetch is writing to " + to + " (lock " + dl.resolve(".lock")
                        + "); wait for it to finish");
            }
            if (complete(to)) { // the other copy finished while this one waited for nothing
                return new Result(to, false, 0, false);
            }
            Path archive = dl.resolve(ARCHIVE + ".part");
            long before = Files.exists(archive) ? Files.size(archive) : 0;
            Path local = localFile();
            long got;
            boolean resumed = false;
            if (local != null) {
                archive = local;
                got = 0;
            } else {
                long[] r = download(archive, before);
                got = r[0];
                resumed = r[1] != 0;
            }
            String actual = md5(archive);
            if (!actual.equals(md5)) {
                if (local == null) {
                    Files.deleteIfExists(archive);
                }
                throw new IOException("checksum mismatch: " + (local != null ? local : from) + " has MD5 " + actual + ", the"
                        + " official archive " + md5 + (local == null ? " (the partial download is deleted; run the"
                        + " command again, or use --from with a good copy)" : " (not the CIFAR-10 binary archive, or damaged)"));
            }
            unpack(archive);
            if (local == null) {
                Files.deleteIfExists(archive);
            }
            Files.deleteIfExists(dl.resolve(".lock"));
            deleteIfEmpty(dl);
            return new Result(to, true, got, resumed);
        }
    }

    private static FileLock tryLock(FileChannel ch) throws IOException {
        try {
            return ch.tryLock();
        } catch (OverlappingFileLockException e) {
            return null; // held by this JVM (another fetch in the same process)
        }
    }

    /** {@code from} as a local file, or null when it is a URL to download. */
    private Path localFile() throws IOException {
        if (from.startsWith("http://") || from.startsWith("https://")) {
            return null;
        }
        Path p = from.startsWith("file:") ? Path.of(URI.create(from)) : Path.of(from);
        if (!Files.isRegularFile(p)) {
            throw new IOException("--from " + from + ": no such file (a copy of " + ARCHIVE + ", or an http(s) URL)");
        }
        return p;
    }

    /**
     * Downloads into {@code part}, resuming at {@code have} bytes with a range request. Returns {bytes received,
     * 1 if resumed}. A transfer cut short keeps what arrived for the next run.
     */
    private long[] download(Path part, long have) throws IOException {
        HttpRequest.Builder rb = HttpRequest.newBuilder(URI.create(from)).timeout(Duration.ofSeconds(60)).GET();
        if (have > 0) {
            rb.header("Range", "bytes=" + have + "-");
        }
        HttpResponse<InputStream> resp;
        try {
            resp = http.send(rb.build(), HttpResponse.BodyHandlers.ofInputStream());
        } catch (UnknownHostException | ConnectException | HttpConnectTimeoutException e) {
            throw offline(e);
        } catch (IOException e) {
            if (e.getCause() instanceof UnknownHostException || e.getCause() instanceof ConnectException) {
                throw offline(e);
            }
            throw new IOException("download of " + from + " failed: " + e.getMessage() + " (run the command again to"
                    + " resume)", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
        int status = resp.statusCode();
        boolean append;
        long total;
        long length = resp.headers().firstValueAsLong("Content-Length").orElse(-1);
        if (status == 206 && have > 0) {
            append = true;
            total = length < 0 ? -1 : have + length;
        } else if (status == 416 && have > 0) { // the part is already whole: check it
            resp.body().close();
            return new long[]{0, 1};
        } else if (status == 200) {
            append = false; // a server without ranges (or a first start): from the beginning
            total = length;
        } else {
            resp.body().close();
            throw new IOException("download of " + from + " failed: HTTP " + status);
        }
        long start = append ? have : 0;
        long received = 0;
        InputStream body = resp.body();
        // a connection that goes quiet without closing: a watchdog closes the body, so the read below ends
        java.util.concurrent.atomic.AtomicLong lastByte = new java.util.concurrent.atomic.AtomicLong(System.nanoTime());
        java.util.concurrent.atomic.AtomicBoolean stalled = new java.util.concurrent.atomic.AtomicBoolean();
        java.util.concurrent.ScheduledExecutorService watchdog = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "crmn-data-fetch-watchdog");
            t.setDaemon(true);
            return t;
        });
        long check = Math.max(50, stallTimeout.toMillis() / 4);
        watchdog.scheduleWithFixedDelay(() -> {
            if (System.nanoTime() - lastByte.get() > stallTimeout.toNanos() && stalled.compareAndSet(false, true)) {
                try {
                    body.close();
                } catch (IOException ignored) {
                    // the read fails either way
                }
            }
        }, check, check, java.util.concurrent.TimeUnit.MILLISECONDS);
        try (InputStream in = body;
             OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                     append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 16];
            for (int n; !stalled.get() && (n = in.read(buf)) >= 0; ) {
                out.write(buf, 0, n);
                received += n;
                lastByte.set(System.nanoTime());
                listener.progress("download", start + received, total);
            }
        } catch (IOException e) {
            throw new IOException("download of " + from + " stopped after " + (start + received) + (total > 0 ? " of "
                    + total : "") + " bytes (" + (stalled.get() ? "nothing received for " + secs(stallTimeout) : e.getMessage()) + "): run the same command again to resume", e);
        } finally {
            watchdog.shutdownNow();
        }
        if (stalled.get()) {
            throw new IOException("download of " + from + " stopped after " + (start + received) + " bytes (nothing"
                    + " received for " + secs(stallTimeout) + "): run the same command again to resume");
        }
        if (total > 0 && start + received < total) {
            throw new IOException("download of " + from + " stopped after " + (start + received) + " of " + total
                    + " bytes: run the same command again to resume");
        }
        return new long[]{received, append ? 1 : 0};
    }

    private static String secs(Duration d) {
        return String.format(java.util.Locale.ROOT, "%.3g s", d.toMillis() / 1000.0);
    }

    private IOException offline(Exception e) {
        String host = URI.create(from).getHost();
        return new IOException("cannot reach " + host + " (offline?): download " + ARCHIVE + " on a machine that can and"
                + " run ./crmn data fetch cifar10 --from FILE, or pass --from URL of a mirror (the demo and the tests"
                + " run on the sample in data/cifar10-sample meanwhile)", e);
    }

    private String md5(Path file) throws IOException {
        MessageDigest d;
        try {
            d = MessageDigest.getInstance("MD5");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        long size = Files.size(file);
        long done = 0;
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) >= 0; ) {
                d.update(buf, 0, n);
                done += n;
                listener.progress("verify", done, size);
            }
        }
        return HexFormat.of().formatHex(d.digest());
    }

    /** Unpacks the data set's files (flat) into a temporary sibling of the target, then renames it into place. */
    private void unpack(Path archive) throws IOException {
        Path tmp = to.resolveSibling(to.getFileName() + ".unpacking");
        dev.crmn.model.util.MoreFiles.deleteRecursively(tmp);
        Files.createDirectories(tmp);
        long size = Files.size(archive);
        try (CountingInputStream counted = new CountingInputStream(Files.newInputStream(archive));
             InputStream in = new BufferedInputStream(new GZIPInputStream(counted, 1 << 16), 1 << 16)) {
            TarReader tar = new TarReader(in);
            for (TarReader.Entry e; (e = tar.next()) != null; ) {
                String name = e.name().substring(e.name().lastIndexOf('/') + 1);
                if (!e.regularFile() || !FILES.contains(name)) {
                    continue; // readme.html, data_batch_N beyond our list, directories
                }
                try (OutputStream out = Files.newOutputStream(tmp.resolve(name))) {
                    tar.copyTo(out, () -> listener.progress("unpack", counted.count(), size));
                }
            }
        }
        if (!complete(tmp)) {
            dev.crmn.model.util.MoreFiles.deleteRecursively(tmp);
            throw new IOException(archive + " does not hold the CIFAR-10 binary files (" + String.join(", ", FILES) + ")");
        }
        Files.createDirectories(to.getParent());
        if (Files.exists(to)) {
            Files.delete(to); // an empty directory (checked at the start)
        }
        try {
            Files.move(tmp, to, StandardCopyOption.ATOMIC_MOVE);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(tmp, to);
        }
    }

    private static boolean isEmptyDir(Path p) throws IOException {
        if (!Files.isDirectory(p)) {
            return false;
        }
        try (var s = Files.list(p)) {
            return s.findAny().isEmpty();
        }
    }

    private static void deleteIfEmpty(Path p) throws IOException {
        if (isEmptyDir(p)) {
            Files.delete(p);
        }
    }

    private static final class CountingInputStream extends java.io.FilterInputStream {
        private long count;

        CountingInputStream(InputStream in) {
            super(in);
        }

        long count() {
            return count;
        }

        @Override
        public int read() throws IOException {
            int b = super.read();
            if (b >= 0) {
                count++;
            }
            return b;
        }

        @Override
        public int read(byte[] b, int off, int len) throws IOException {
            int n = super.read(b, off, len);
            if (n > 0) {
                count += n;
            }
            return n;
        }
    }

    /** The few parts of the tar format (POSIX ustar, GNU long names) an archive of plain files needs. */
    static final class TarReader {
        record Entry(String name, long size, boolean regularFile) {
        }

        private final InputStream in;
        private long remaining;
        private long padding;

        TarReader(InputStream in) {
            this.in = in;
        }

        /** The next entry, or null at the end of the archive. */
        Entry next() throws IOException {
            skip(remaining + padding);
            remaining = 0;
            padding = 0;
            String longName = null;
            while (true) {
                byte[] h = in.readNBytes(512);
                if (h.length < 512) {
                    throw new IOException("truncated tar archive");
                }
                if (allZero(h)) {
                    return null;
                }
                String name = text(h, 0, 100);
                String prefix = text(h, 345, 155);
                long size = octal(h, 124, 12);
                char type = (char) h[156];
                long pad = (512 - size % 512) % 512;
                if (type == 'L') { // GNU: the next entry's long name
                    byte[] n = in.readNBytes((int) size);
                    skip(pad);
                    longName = new String(n, StandardCharsets.UTF_8).replace("\0", "");
                    continue;
                }
                String full = longName != null ? longName : prefix.isEmpty() ? name : prefix + "/" + name;
                if (full.startsWith("/") || List.of(full.split("/")).contains("..")) {
                    throw new IOException("refusing tar entry outside the archive's folder: " + full);
                }
                remaining = size;
                padding = pad;
                return new Entry(full, size, type == '0' || type == 0);
            }
        }

        /** Copies the current entry's bytes. */
        void copyTo(OutputStream out, Runnable tick) throws IOException {
            byte[] buf = new byte[1 << 16];
            while (remaining > 0) {
                int n = in.read(buf, 0, (int) Math.min(buf.length, remaining));
                if (n < 0) {
                    throw new IOException("truncated tar archive");
                }
                out.write(buf, 0, n);
                remaining -= n;
                tick.run();
            }
        }

        private void skip(long n) throws IOException {
            while (n > 0) {
                long s = in.skip(n);
                if (s <= 0) {
                    if (in.read() < 0) {
                        throw new IOException("truncated tar archive");
                    }
                    s = 1;
                }
                n -= s;
            }
        }

        private static boolean allZero(byte[] b) {
            for (byte x : b) {
                if (x != 0) {
                    return false;
                }
            }
            return true;
        }

        private static String text(byte[] h, int off, int len) {
            int end = off;
            while (end < off + len && h[end] != 0) {
                end++;
            }
            return new String(h, off, end - off, StandardCharsets.UTF_8);
        }

        private static long octal(byte[] h, int off, int len) throws IOException {
            String s = text(h, off, len).trim();
            try {
                return s.isEmpty() ? 0 : Long.parseLong(s, 8);
            } catch (NumberFormatException e) {
                throw new IOException("not a tar archive (bad size field)");
            }
        }
    }
}
