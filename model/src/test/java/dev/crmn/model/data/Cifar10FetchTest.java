package dev.crmn.model.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.ServerSocket;
import java.net.Socket;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code crmn data fetch cifar10} against a local HTTP server that serves a small archive of the official layout
 * ({@code cifar-10-batches-bin/} with every file, a few records each): download and unpack, range-request resume
 * after a transfer cut short, a wrong checksum, a server that is not there, a local copy, a second run, a second
 * copy at the same time.
 */
class Cifar10FetchTest {

    @TempDir
    Path dir;
    ServerSocket server;
    final java.util.concurrent.atomic.AtomicBoolean stall = new java.util.concurrent.atomic.AtomicBoolean();
    final java.util.concurrent.CountDownLatch stalled = new java.util.concurrent.CountDownLatch(1);
    byte[] archive;
    String md5;
    /** Bytes the next response sends before it drops (or, with {@link #stall}, holds) the connection; -1: all. */
    final AtomicInteger cutAfter = new AtomicInteger(-1);
    final List<String> ranges = new CopyOnWriteArrayList<>();
    final Map<String, byte[]> files = new LinkedHashMap<>();

    @BeforeEach
    void serve() throws Exception {
        int records = 3;
        for (String f : Cifar10Fetch.FILES) {
            if (f.endsWith(".bin")) {
                byte[] b = new byte[records * 3073];
                for (int r = 0; r < records; r++) {
                    b[r * 3073] = (byte) ((r + f.length()) % 10);
                    for (int i = 1; i < 3073; i++) {
                        b[r * 3073 + i] = (byte) (i * 31 + r + f.hashCode());
                    }
                }
                files.put(f, b);
            } else {
                files.put(f, String.join("\n", CifarBinaryReader.CIFAR10_LABELS).getBytes(StandardCharsets.UTF_8));
            }
        }
        archive = tarGz(files);
        md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(archive));
        server = new ServerSocket(0, 50, java.net.InetAddress.getLoopbackAddress());
        Thread t = new Thread(this::accept, "test-http");
        t.setDaemon(true);
        t.start();
    }

    /**
     * A plain HTTP/1.1 server, one request a connection, with range requests; it can cut a response short (close
     * the connection mid-body) or stall it (send part of the body, then nothing).
     */
    void accept() {
        while (!server.isClosed()) {
            try (Socket c = server.accept()) {
                java.io.BufferedReader in = new java.io.BufferedReader(new java.io.InputStreamReader(c.getInputStream(),
                        StandardCharsets.ISO_8859_1));
                String range = null;
                for (String line = in.readLine(); line != null && !line.isEmpty(); line = in.readLine()) {
                    if (line.toLowerCase(java.util.Locale.ROOT).startsWith("range:")) {
                        range = line.substring(6).trim();
                    }
                }
                ranges.add(range == null ? "none" : range);
                OutputStream out = c.getOutputStream();
                int from = range == null ? 0 : Integer.parseInt(range.replace("bytes=", "").replace("-", ""));
                if (from >= archive.length) {
                    out.write("HTTP/1.1 416 Range Not Satisfiable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            .getBytes(StandardCharsets.ISO_8859_1));
                    continue;
                }
                int cut = cutAfter.getAndSet(-1);
                String head = (range == null ? "HTTP/1.1 200 OK\r\n" : "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes "
                        + from + "-" + (archive.length - 1) + "/" + archive.length + "\r\n")
                        + "Content-Length: " + (archive.length - from) + "\r\nAccept-Ranges: bytes\r\nConnection: close\r\n\r\n";
                out.write(head.getBytes(StandardCharsets.ISO_8859_1));
                out.write(archive, from, cut < 0 ? archive.length - from : cut);
                out.flush();
                if (stall.get()) {
                    stalled.await(); // hold the connection open, sending nothing
                }
            } catch (IOException | InterruptedException e) {
                // closed by the test
            }
        }
    }

    @AfterEach
    void stop() throws IOException {
        stalled.countDown();
        server.close();
    }

    String url() {
        return "http://127.0.0.1:" + server.getLocalPort() + "/cifar-10-binary.tar.gz";
    }

    Cifar10Fetch fetch(Path to, String from, String md5) {
        return new Cifar10Fetch(to, from, md5, (phase, done, total) -> { });
    }

    void assertUnpacked(Path to) throws IOException {
        for (Map.Entry<String, byte[]> e : files.entrySet()) {
            assertThat(Files.readAllBytes(to.resolve(e.getKey()))).as(e.getKey()).isEqualTo(e.getValue());
        }
        assertThat(to.resolve("readme.html")).doesNotExist();
        assertThat(to.resolveSibling(to.getFileName() + ".download")).doesNotExist();
        try (CifarBinaryReader r = CifarBinaryReader.open(to.resolve("test_batch.bin"), CifarBinaryReader.CifarFormat.CIFAR10)) {
            assertThat(r.hasNext()).isTrue();
        }
    }

    @Test
    void downloadsChecksAndUnpacksFlatAndASecondRunDoesNothing() throws Exception {
        Path to = dir.resolve("data/cifar10");
        Cifar10Fetch.Result r = fetch(to, url(), md5).run();
        assertThat(r.fetched()).isTrue();
        assertThat(r.downloadedBytes()).isEqualTo(archive.length);
        assertUnpacked(to);
        assertThat(Cifar10Fetch.complete(to)).isTrue();
        Cifar10Fetch.Result again = fetch(to, url(), md5).run();
        assertThat(again.fetched()).isFalse();
        assertThat(ranges).hasSize(1);
    }

    @Test
    void aTransferCutShortKeepsWhatArrivedAndTheNextRunResumesWithARange() throws Exception {
        Path to = dir.resolve("c");
        cutAfter.set(archive.length / 2);
        assertThatThrownBy(() -> fetch(to, url(), md5).run()).hasMessageContaining("run the same command again to resume");
        Path part = to.resolveSibling("c.download").resolve(Cifar10Fetch.ARCHIVE + ".part");
        assertThat(Files.size(part)).isEqualTo(archive.length / 2);
        assertThat(to).doesNotExist();
        Cifar10Fetch.Result r = fetch(to, url(), md5).run();
        assertThat(r.resumed()).isTrue();
        assertThat(r.downloadedBytes()).isEqualTo(archive.length - archive.length / 2);
        assertThat(ranges).containsExactly("none", "bytes=" + (archive.length / 2) + "-");
        assertUnpacked(to);
    }

    @Test
    void aTransferThatGoesQuietIsGivenUpAndResumedLater() throws Exception {
        Path to = dir.resolve("c");
        cutAfter.set(1000);
        stall.set(true);
        assertThatThrownBy(() -> fetch(to, url(), md5).stallTimeout(java.time.Duration.ofMillis(500)).run())
                .hasMessageContaining("nothing received for").hasMessageContaining("resume");
        stall.set(false);
        stalled.countDown();
        Cifar10Fetch.Result r = fetch(to, url(), md5).run();
        assertThat(r.resumed()).isTrue();
        assertUnpacked(to);
    }

    @Test
    void aWrongChecksumIsRefusedTheDownloadDeletedAndNothingUnpacked() throws Exception {
        Path to = dir.resolve("c");
        assertThatThrownBy(() -> fetch(to, url(), "0123456789abcdef0123456789abcdef").run())
                .hasMessageContaining("checksum mismatch").hasMessageContaining(md5);
        assertThat(to).doesNotExist();
        assertThat(to.resolveSibling("c.download").resolve(Cifar10Fetch.ARCHIVE + ".part")).doesNotExist();
        // and the next run starts over (no range on a deleted part)
        assertThat(fetch(to, url(), md5).run().fetched()).isTrue();
        assertThat(ranges).containsExactly("none", "none");
    }

    @Test
    void theDefaultChecksumIsTheOfficialArchivesSoAnotherArchiveIsRefused() {
        assertThatThrownBy(() -> fetch(dir.resolve("c"), url(), null).run()).hasMessageContaining(Cifar10Fetch.MD5);
    }

    @Test
    void noServerSaysInOneLineWhatToDoOffline() throws Exception {
        int port;
        try (ServerSocket s = new ServerSocket(0)) {
            port = s.getLocalPort();
        }
        assertThatThrownBy(() -> fetch(dir.resolve("c"), "http://127.0.0.1:" + port + "/x.tar.gz", md5).run())
                .hasMessageContaining("offline").hasMessageContaining("--from FILE").hasMessageNotContaining("\n");
    }

    @Test
    void aLocalCopyIsCheckedAndUnpackedAndLeftInPlace() throws Exception {
        Path copy = dir.resolve("cifar-10-binary.tar.gz");
        Files.write(copy, archive);
        Path to = dir.resolve("c");
        assertThat(fetch(to, copy.toString(), md5).run().fetched()).isTrue();
        assertUnpacked(to);
        assertThat(copy).exists();
        assertThat(ranges).isEmpty();
        Path broken = dir.resolve("broken.tar.gz");
        Files.write(broken, java.util.Arrays.copyOf(archive, archive.length / 2));
        assertThatThrownBy(() -> fetch(dir.resolve("d"), broken.toString(), null).run()).hasMessageContaining("checksum mismatch");
        assertThat(broken).exists();
        assertThatThrownBy(() -> fetch(dir.resolve("e"), dir.resolve("nope.tar.gz").toString(), md5).run())
                .hasMessageContaining("no such file");
    }

    @Test
    void aSecondCopyFetchingToTheSamePlaceIsRefused() throws Exception {
        Path to = dir.resolve("c");
        Path dl = to.resolveSibling("c.download");
        Files.createDirectories(dl);
        try (FileChannel ch = FileChannel.open(dl.resolve(".lock"), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
             FileLock held = ch.lock()) {
            assertThatThrownBy(() -> fetch(to, url(), md5).run()).hasMessageContaining("another crmn data fetch");
        }
        assertThat(fetch(to, url(), md5).run().fetched()).isTrue();
    }

    @Test
    void aTargetHoldingSomethingElseIsNotOverwritten() throws Exception {
        Path to = dir.resolve("c");
        Files.createDirectories(to);
        Files.writeString(to.resolve("mine.txt"), "keep");
        assertThatThrownBy(() -> fetch(to, url(), md5).run()).hasMessageContaining("does not hold the complete data set");
        assertThat(to.resolve("mine.txt")).hasContent("keep");
    }

    @Test
    void anArchiveWithAnEntryOutsideItsFolderIsRefused() throws Exception {
        Map<String, byte[]> evil = new LinkedHashMap<>();
        evil.put("../evil.bin", new byte[3073]);
        byte[] a = tarGz(evil, "");
        Path copy = dir.resolve("evil.tar.gz");
        Files.write(copy, a);
        String sum = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(a));
        assertThatThrownBy(() -> fetch(dir.resolve("c"), copy.toString(), sum).run()).hasMessageContaining("outside");
        assertThat(dir.resolve("evil.bin")).doesNotExist();
    }

    static byte[] tarGz(Map<String, byte[]> files) throws IOException {
        Map<String, byte[]> withReadme = new LinkedHashMap<>();
        withReadme.put("readme.html", "<html>CIFAR-10</html>".getBytes(StandardCharsets.UTF_8));
        withReadme.putAll(files);
        return tarGz(withReadme, "cifar-10-batches-bin/");
    }

    /** A POSIX ustar archive (a directory entry, then the files), gzipped, as GNU tar writes the official one. */
    static byte[] tarGz(Map<String, byte[]> files, String folder) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        try (GZIPOutputStream gz = new GZIPOutputStream(bytes)) {
            List<Map.Entry<String, byte[]>> entries = new ArrayList<>();
            if (!folder.isEmpty()) {
                entries.add(Map.entry(folder, new byte[0]));
            }
            files.forEach((k, v) -> entries.add(Map.entry(folder + k, v)));
            for (Map.Entry<String, byte[]> e : entries) {
                boolean isDir = e.getKey().endsWith("/");
                byte[] h = new byte[512];
                put(h, 0, e.getKey());
                put(h, 100, isDir ? "0000755" : "0000644");
                put(h, 108, "0001750");
                put(h, 116, "0001750");
                put(h, 124, String.format("%011o", e.getValue().length));
                put(h, 136, String.format("%011o", 1241000000L));
                h[156] = (byte) (isDir ? '5' : '0');
                put(h, 257, "ustar");
                put(h, 263, "00");
                java.util.Arrays.fill(h, 148, 156, (byte) ' ');
                int sum = 0;
                for (byte b : h) {
                    sum += b & 0xFF;
                }
                put(h, 148, String.format("%06o", sum));
                h[154] = 0;
                gz.write(h);
                gz.write(e.getValue());
                gz.write(new byte[(512 - e.getValue().length % 512) % 512]);
            }
            gz.write(new byte[1024]);
        }
        return bytes.toByteArray();
    }

    private static void put(byte[] h, int off, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, h, off, b.length);
    }
}
