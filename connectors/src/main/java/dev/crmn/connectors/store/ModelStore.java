package dev.crmn.connectors.store;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import dev.crmn.model.checkpoint.CheckpointException;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.InvalidKeyException;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;

/**
 * Published checkpoints on any Flink {@link FileSystem} ({@code file://}, and {@code s3://}, {@code hdfs://}
 * where the plugin is present). Layout: {@code <root>/<name>/v<version>-<sha256 prefix>/} holding
 * {@code manifest.json} and {@code model.zip}. Publishing writes to {@code <root>/<name>/.tmp-<uuid>/} and
 * renames it into place, so a reader never sees a partial checkpoint (on object stores without atomic
 * rename, readers still ignore dot-directories and verify the hash). Published versions are immutable.
 *
 * <p>With a signing key, published manifests carry an HMAC-SHA256 {@code signature} (over the manifest
 * without it, which includes the model zip's SHA-256), and {@link #fetch} refuses unsigned or wrongly
 * signed checkpoints.
 */
public final class ModelStore {

    private final Path root;
    private final byte[] signingKey;

    /**
     * @param root       the store's root URI
     * @param signingKey HMAC key, or null for an unsigned store
     */
    public ModelStore(Path root, byte[] signingKey) {
        this.root = root;
        this.signingKey = signingKey == null ? null : signingKey.clone();
    }

    public ModelStore(String rootUri) {
        this(new Path(rootUri), null);
    }

    public Path root() {
        return root;
    }

    /**
     * Publishes a local checkpoint directory (verified first) and returns its reference.
     *
     * @throws CheckpointException if the checkpoint is invalid or that version is already published
     */
    public ModelRef publish(java.nio.file.Path checkpoint) throws IOException {
        Checkpoints.Loaded loaded = Checkpoints.load(checkpoint, false);
        loaded.network().clear();
        Manifest m = loaded.manifest();
        if (signingKey != null) {
            m = m.withSignature(sign(m));
        }
        FileSystem fs = root.getFileSystem();
        Path modelDir = new Path(root, m.name());
        Path target = new Path(modelDir, dirName(m));
        if (fs.exists(target)) {
            throw new CheckpointException(m.displayName() + " is already published at " + target);
        }
        Path tmp = new Path(modelDir, ".tmp-" + UUID.randomUUID());
        fs.mkdirs(tmp);
        try {
            try (OutputStream out = fs.create(new Path(tmp, Checkpoints.MODEL), FileSystem.WriteMode.NO_OVERWRITE)) {
                Files.copy(loaded.directory().resolve(m.modelFile()), out);
            }
            try (OutputStream out = fs.create(new Path(tmp, Checkpoints.MANIFEST), FileSystem.WriteMode.NO_OVERWRITE)) {
                Checkpoints.json().writeValue(nonClosing(out), m.withModelFile(Checkpoints.MODEL, m.modelBytes(), m.sha256()));
            }
            if (!fs.rename(tmp, target)) {
                throw new CheckpointException("cannot move " + tmp + " to " + target + " (published concurrently?)");
            }
        } finally {
            if (fs.exists(tmp)) {
                fs.delete(tmp, true);
            }
        }
        return ref(m, target, fs.getFileStatus(target).getModificationTime());
    }

    /** The reference of a published manifest at {@code dir}. */
    private static ModelRef ref(Manifest m, Path dir, long publishedAt) {
        return new ModelRef(ModelRefJson.CURRENT_SCHEMA, m.name(), m.version(), dir.toUri().toString(), m.sha256(),
                m.metrics(), m.parentVersion(), publishedAt);
    }

    private static String dirName(Manifest m) {
        return "v" + m.version() + "-" + m.sha256().substring(0, 12);
    }

    /** Published versions of {@code name}, oldest first. Unreadable entries are skipped. */
    public List<ModelRef> list(String name) throws IOException {
        FileSystem fs = root.getFileSystem();
        Path modelDir = new Path(root, name);
        List<ModelRef> refs = new ArrayList<>();
        if (!fs.exists(modelDir)) {
            return refs;
        }
        FileStatus[] entries = fs.listStatus(modelDir);
        if (entries == null) {
            return refs;
        }
        for (FileStatus s : entries) {
            String n = s.getPath().getName();
            if (!s.isDir() || n.startsWith(".")) {
                continue;
            }
            try (InputStream in = fs.open(new Path(s.getPath(), Checkpoints.MANIFEST))) {
                Manifest m = Checkpoints.json().readValue(in, Manifest.class);
                refs.add(ref(m, s.getPath(), s.getModificationTime()));
            } catch (IOException | RuntimeException e) {
                // a half-written or foreign directory: not a published version
            }
        }
        refs.sort(Comparator.comparingLong(ModelRef::version));
        return refs;
    }

    /** The highest published version of {@code name}. */
    public Optional<ModelRef> latest(String name) throws IOException {
        List<ModelRef> refs = list(name);
        return refs.isEmpty() ? Optional.empty() : Optional.of(refs.get(refs.size() - 1));
    }

    /**
     * Copies the referenced checkpoint into {@code localDir} (created; reused if it already holds the same
     * verified checkpoint) and verifies it: SHA-256 against the reference and the manifest, the signature
     * when this store has a key, and the checkpoint itself.
     *
     * @return the verified local checkpoint directory
     * @throws CheckpointException when anything does not verify
     */
    public java.nio.file.Path fetch(ModelRef ref, java.nio.file.Path localDir) throws IOException {
        Path src = new Path(ref.uri());
        FileSystem fs = src.getFileSystem();
        Files.createDirectories(localDir);
        java.nio.file.Path tmp = Files.createTempDirectory(localDir.toAbsolutePath().getParent() == null
                ? localDir : localDir.toAbsolutePath().getParent(), ".fetch-");
        try {
            for (String f : List.of(Checkpoints.MANIFEST, Checkpoints.MODEL)) {
                try (InputStream in = fs.open(new Path(src, f))) {
                    Files.copy(in, tmp.resolve(f), StandardCopyOption.REPLACE_EXISTING);
                }
            }
            Manifest m = Checkpoints.readManifest(tmp.resolve(Checkpoints.MANIFEST));
            if (!m.sha256().equalsIgnoreCase(ref.sha256())) {
                throw new CheckpointException("checkpoint at " + ref.uri() + " has SHA-256 " + m.sha256()
                        + " in its manifest, the reference says " + ref.sha256());
            }
            Checkpoints.verifyFile(tmp.resolve(m.modelFile()), m);
            verifySignature(m, ref);
            for (String f : List.of(Checkpoints.MANIFEST, Checkpoints.MODEL)) {
                Files.move(tmp.resolve(f), localDir.resolve(f), StandardCopyOption.REPLACE_EXISTING);
            }
            return localDir;
        } finally {
            try (var s = Files.walk(tmp)) {
                s.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
            }
        }
    }

    private void verifySignature(Manifest m, ModelRef ref) throws CheckpointException {
        if (signingKey == null) {
            return;
        }
        if (m.signature() == null || m.signature().isBlank()) {
            throw new CheckpointException(ref.displayName() + " at " + ref.uri() + " is not signed and this store requires signatures");
        }
        String expected = sign(m.withSignature(null));
        if (!MessageDigest.isEqual(expected.getBytes(), m.signature().toLowerCase().getBytes())) {
            throw new CheckpointException(ref.displayName() + " at " + ref.uri() + " has a wrong signature");
        }
    }

    /** Hex HMAC-SHA256 of the manifest without its signature. */
    String sign(Manifest m) throws CheckpointException {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(signingKey, "HmacSHA256"));
            return HexFormat.of().formatHex(mac.doFinal(Checkpoints.json().writeValueAsBytes(m.withSignature(null))));
        } catch (NoSuchAlgorithmException | InvalidKeyException | IOException e) {
            throw new CheckpointException("cannot sign manifest: " + e.getMessage(), e);
        }
    }

    private static OutputStream nonClosing(OutputStream out) {
        return new java.io.FilterOutputStream(out) {
            @Override
            public void write(byte[] b, int off, int len) throws IOException {
                out.write(b, off, len);
            }

            @Override
            public void close() throws IOException {
                out.flush();
            }
        };
    }
}
