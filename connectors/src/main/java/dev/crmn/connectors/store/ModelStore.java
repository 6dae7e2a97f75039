package dev.crmn.connectors.store;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelRefJson;
import dev.crmn.model.checkpoint.CheckpointException;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.util.MoreFiles;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.StandardCopyOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.HexFormat;
import java.util.List;
import java.util.Optional;
import java.util.UUID;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.flink.core.fs.FileStatus;
import org.apache.flink.core.fs.FileSystem;
import org.apache.flink.core.fs.Path;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Published checkpoints on any Flink {@link FileSystem} ({@code file://}, and {@code s3://}, {@code hdfs://}
 * where the plugin is present), shared by every subtask, job and restart that reads or writes them.
 *
 * <p><b>Layout.</b> {@code <root>/<name>/v<version>/} holding {@code manifest.json}, {@code model.zip} and, in
 * a signed store, {@code manifest.json.sig}. (Stores written before 0.1 used {@code v<version>-<sha prefix>};
 * they are still read.)
 *
 * <p><b>One version, one checkpoint.</b> {@link #publish} writes into {@code <root>/.staging/<name>-<uuid>/} and
 * renames it to {@code <root>/<name>/v<version>}: a reader never sees a partial checkpoint, and of two publishers racing for
 * one version exactly one wins. Publishing version N when a <em>different</em> checkpoint holds N is refused;
 * publishing the same bytes again returns the existing reference, so a publish retried after a failure is
 * idempotent. On object stores without atomic rename the race is not excluded (readers still verify hashes).
 *
 * <p><b>Signatures.</b> With signing keys ({@link Keyring}), publish writes a detached HMAC-SHA256 of the
 * manifest's stored bytes ({@code manifest.json.sig}: the signing key's id, a space, the hex MAC), and
 * {@link #fetch} refuses checkpoints whose signature is missing, wrong, or made with a key the keyring does not
 * hold. Signatures written before key ids (the hex MAC alone) verify against any key of the keyring. The manifest carries the model zip's SHA-256, so the signature covers the weights too; signing the
 * bytes (not a re-serialised manifest) keeps fields this version does not know covered and verifiable.
 */
public final class ModelStore {

    /** Where {@link #publish} writes a version before renaming it into place. */
    static final String STAGING = ".staging";

    /** The detached signature beside a signed manifest. */
    public static final String SIGNATURE = Checkpoints.MANIFEST + ".sig";

    /** The record a pruned version keeps in its directory ({@link #prune}): when and why its weights were deleted. */
    public static final String PRUNED = "pruned.json";

    /**
     * A version whose weights were deleted by {@link #prune}: its manifest, signature and status records stay (so its
     * number is never published again with other weights, its lineage and history stay listed, and a job that still
     * holds it in its local model cache can load it), but it can no longer be fetched into an empty cache.
     *
     * @param at     when, epoch milliseconds
     * @param reason why, in words
     */
    public record Pruned(@com.fasterxml.jackson.annotation.JsonProperty("at") long at,
                         @com.fasterxml.jackson.annotation.JsonProperty("reason") String reason) {
    }

    private static final Logger LOG = LoggerFactory.getLogger(ModelStore.class);
    private static final Pattern VERSION_DIR = Pattern.compile("v(\\d+)(-[0-9a-f]+)?");

    private final Path root;
    private final Keyring keys;

    /**
     * @param root the store's root URI
     * @param keys HMAC keys (the first signs, all verify), or null for an unsigned store
     */
    public ModelStore(Path root, Keyring keys) {
        this.root = root;
        this.keys = keys;
    }

    /** A store signed with one key ({@code signingKey}), or unsigned (null). */
    public ModelStore(Path root, byte[] signingKey) {
        this(root, signingKey == null ? null : Keyring.of(signingKey));
    }

    public ModelStore(String rootUri) {
        this(new Path(rootUri(rootUri)), (Keyring) null);
    }

    /**
     * A store location as a file system URI: a URI ({@code s3://...}, {@code file:///...}) stays as it is, a plain
     * path (absolute or relative to the working directory) becomes an absolute {@code file://} URI.
     */
    public static String rootUri(String location) {
        return location.contains(":/") ? location
                : java.nio.file.Path.of(location).toAbsolutePath().normalize().toUri().toString();
    }

    public Path root() {
        return root;
    }

    /** Whether this store signs and verifies manifests. */
    public boolean signed() {
        return keys != null;
    }

    /**
     * Publishes a local checkpoint directory (verified first) and returns its reference. Publishing the same
     * checkpoint again returns the existing reference.
     *
     * @throws CheckpointException if the checkpoint is invalid ({@link VersionTakenException}: another checkpoint
     *                             already holds its version)
     */
    public ModelRef publish(java.nio.file.Path checkpoint) throws IOException {
        Checkpoints.Loaded loaded = Checkpoints.load(checkpoint, false);
        dev.crmn.model.graph.Graphs.free(loaded.network());
        Manifest m = loaded.manifest();
        Optional<ModelRef> existing = existing(m);
        if (existing.isPresent()) {
            return existing.get();
        }
        FileSystem fs = root.getFileSystem();
        Path modelDir = new Path(root, m.name());
        Path target = new Path(modelDir, "v" + m.version());
        // staged outside <root>/<name>/: a concurrent list() of the model directory never meets a staging
        // directory that vanishes under it (a local listing stats each entry it names)
        Path tmp = new Path(new Path(root, STAGING), m.name() + "-" + UUID.randomUUID());
        fs.mkdirs(tmp);
        fs.mkdirs(modelDir);
        try {
            byte[] manifestBytes = Checkpoints.json().writeValueAsBytes(m.withModelFile(Checkpoints.MODEL, m.modelBytes(),
                    m.sha256()));
            try (OutputStream out = fs.create(new Path(tmp, Checkpoints.MODEL), FileSystem.WriteMode.NO_OVERWRITE)) {
                Files.copy(loaded.directory().resolve(m.modelFile()), out);
            }
            write(fs, new Path(tmp, Checkpoints.MANIFEST), manifestBytes);
            if (keys != null) {
                write(fs, new Path(tmp, SIGNATURE), sign(manifestBytes).getBytes(StandardCharsets.US_ASCII));
            }
            if (!renamed(fs, tmp, target)) {
                // another publisher won the race for this version: fine if it published these bytes
                return existing(m).orElseThrow(() -> new VersionTakenException("cannot publish " + m.displayName()
                        + ": " + target + " appeared concurrently with another checkpoint"));
            }
        } finally {
            if (fs.exists(tmp)) {
                fs.delete(tmp, true);
            }
        }
        return ref(m, target, fs.getFileStatus(target).getModificationTime());
    }

    /**
     * Renames {@code tmp} to {@code target}; false if {@code target} exists (a concurrent publisher made it). Flink's
     * local file system reports that as false only sometimes: when the other rename lands between its check and its
     * own, the operating system's "directory not empty" comes as an {@link IOException} (seen in a racing-publishers
     * test).
     */
    private static boolean renamed(FileSystem fs, Path tmp, Path target) throws IOException {
        try {
            return fs.rename(tmp, target);
        } catch (IOException e) {
            if (fs.exists(target)) {
                return false;
            }
            throw e;
        }
    }

    /**
     * The published reference of {@code m}'s version if the same checkpoint (same model SHA-256) already holds
     * it; empty if the version is free.
     *
     * @throws CheckpointException if another checkpoint holds the version
     */
    private Optional<ModelRef> existing(Manifest m) throws IOException {
        Optional<ModelRef> held = find(m.name(), m.version());
        if (held.isPresent()) {
            ModelRef r = held.get();
            if (!r.sha256().equalsIgnoreCase(m.sha256())) {
                throw new VersionTakenException(m.displayName() + " is already published at " + r.uri()
                        + " with another checkpoint (SHA-256 " + r.sha256().substring(0, 12) + "…, this one "
                        + m.sha256().substring(0, 12) + "…); one version number names one checkpoint");
            }
            LOG.info("{} is already published at {} (same checkpoint)", m.displayName(), r.uri());
        }
        return held;
    }

    private static void write(FileSystem fs, Path file, byte[] bytes) throws IOException {
        try (OutputStream out = fs.create(file, FileSystem.WriteMode.NO_OVERWRITE)) {
            out.write(bytes);
        }
    }

    /**
     * Writes {@code file} in one step for readers that may look at it while it is written (a status record, a prune
     * record): the bytes go to a hidden file beside it first, which is then renamed. A reader sees the whole record or
     * none; {@code create} followed by {@code write} showed an empty file to a concurrent reader (seen as "No content
     * to map" in a racing-prunes test). On object stores, where a file appears only when it is closed, the rename is
     * a copy and changes nothing a reader sees.
     */
    private static void writeWhole(FileSystem fs, Path file, byte[] bytes) throws IOException {
        Path tmp = new Path(file.getParent(), "." + file.getName() + "." + UUID.randomUUID() + ".tmp");
        write(fs, tmp, bytes);
        if (!fs.rename(tmp, file)) {
            fs.delete(tmp, false);
            throw new IOException("could not rename " + tmp + " to " + file);
        }
    }

    /** The reference of a published manifest at {@code dir}. */
    private static ModelRef ref(Manifest m, Path dir, long publishedAt) {
        return new ModelRef(ModelRefJson.CURRENT_SCHEMA, m.name(), m.version(), uri(dir), m.sha256(), m.metrics(),
                m.parentVersion(), m.parentSha256(), publishedAt);
    }

    /** A directory's URI as the docs write it: {@code file:///abs/path/} for local paths. */
    static String uri(Path dir) {
        java.net.URI u = dir.toUri();
        String s = u.getScheme() == null ? "file://" + u.getPath()
                : u.getScheme().equals("file") && u.getAuthority() == null ? "file://" + u.getPath() : u.toString();
        return s.endsWith("/") ? s : s + "/";
    }

    /**
     * The reference of the published checkpoint at {@code uri} (a version directory of a store, as
     * {@link ModelRef#uri()} names it).
     */
    public static ModelRef refAt(String uri) throws IOException {
        Path dir = new Path(uri);
        FileSystem fs = dir.getFileSystem();
        Manifest m;
        try (InputStream in = fs.open(new Path(dir, Checkpoints.MANIFEST))) {
            m = Checkpoints.readManifest(in.readAllBytes(), uri);
        }
        return ref(m, dir, fs.getFileStatus(dir).getModificationTime());
    }

    /** Published versions of {@code name}, oldest first, each manifest read. Unreadable entries are skipped. */
    public List<ModelRef> list(String name) throws IOException {
        List<ModelRef> refs = new ArrayList<>();
        for (VersionDir d : versionDirs(name)) {
            read(name, d).ifPresent(refs::add);
        }
        refs.sort(Comparator.comparingLong(ModelRef::version).thenComparingLong(ModelRef::publishedAt)
                .thenComparing(ModelRef::uri));
        return refs;
    }

    /** A version directory of a model, as its name says: the index of a store is its directory names. */
    private record VersionDir(long version, FileStatus status) {
    }

    /** The version directories of {@code name} (one listing, no manifest read), highest version first. */
    private List<VersionDir> versionDirs(String name) throws IOException {
        FileSystem fs = root.getFileSystem();
        Path modelDir = new Path(root, name);
        List<VersionDir> dirs = new ArrayList<>();
        FileStatus[] entries = fs.exists(modelDir) ? fs.listStatus(modelDir) : null;
        if (entries == null) {
            return dirs;
        }
        for (FileStatus s : entries) {
            Matcher dirName = VERSION_DIR.matcher(s.getPath().getName());
            if (s.isDir() && dirName.matches()) {
                dirs.add(new VersionDir(Long.parseLong(dirName.group(1)), s));
            }
        }
        dirs.sort(Comparator.comparingLong(VersionDir::version).reversed()
                .thenComparing(d -> -d.status().getModificationTime()));
        return dirs;
    }

    /** The reference of one version directory, if its manifest is readable and names it. */
    private Optional<ModelRef> read(String name, VersionDir d) {
        try (InputStream in = root.getFileSystem().open(new Path(d.status().getPath(), Checkpoints.MANIFEST))) {
            Manifest m = Checkpoints.readManifest(in.readAllBytes(), d.status().getPath().toString());
            if (m.name().equals(name) && m.version() == d.version()) {
                return Optional.of(ref(m, d.status().getPath(), d.status().getModificationTime()));
            }
        } catch (IOException | RuntimeException e) {
            LOG.debug("{} is not a published version: {}", d.status().getPath(), e.getMessage());
        }
        return Optional.empty();
    }

    /**
     * The highest published version of {@code name} (ties, possible only in old stores, go to the latest published):
     * one listing and the manifests of the highest versions only, however many versions the store holds.
     */
    public Optional<ModelRef> latest(String name) throws IOException {
        for (VersionDir d : versionDirs(name)) {
            Optional<ModelRef> r = read(name, d);
            if (r.isPresent()) {
                return r;
            }
        }
        return Optional.empty();
    }

    /** The published reference of {@code name} version {@code version}, reading only that version's manifest. */
    public Optional<ModelRef> find(String name, long version) throws IOException {
        for (VersionDir d : versionDirs(name)) {
            if (d.version() == version) {
                Optional<ModelRef> r = read(name, d);
                if (r.isPresent()) {
                    return r;
                }
            }
        }
        return Optional.empty();
    }

    /**
     * Deletes the weights ({@code model.zip}) of a published version and keeps the rest ({@link Pruned}): first the
     * record {@value #PRUNED}, then the weights, so that an interrupted prune leaves a version that says it was
     * pruned rather than one that looks damaged. Pruning a pruned version again changes nothing. Which versions may
     * go is the caller's decision ({@link Retention}); this method refuses none.
     *
     * @return the prune record (the earlier one when it was pruned before)
     */
    public Pruned prune(ModelRef ref, String reason) throws IOException {
        Path dir = new Path(ref.uri());
        FileSystem fs = dir.getFileSystem();
        Optional<Pruned> before = pruned(ref);
        Pruned p = before.orElseGet(() -> new Pruned(System.currentTimeMillis(), reason));
        if (before.isEmpty()) {
            try {
                writeWhole(fs, new Path(dir, PRUNED), Checkpoints.json().writeValueAsBytes(p));
            } catch (IOException e) {
                Optional<Pruned> raced = pruned(ref); // another prune wrote it between the check and the write
                if (raced.isEmpty()) {
                    throw e;
                }
                p = raced.get();
            }
        }
        Path weights = new Path(dir, Checkpoints.MODEL);
        if (fs.exists(weights) && !fs.delete(weights, false) && fs.exists(weights)) {
            throw new IOException("could not delete " + weights);
        }
        return p;
    }

    /** The prune record of a version, empty if its weights were never pruned. */
    public static Optional<Pruned> pruned(ModelRef ref) throws IOException {
        Path file = new Path(new Path(ref.uri()), PRUNED);
        FileSystem fs = file.getFileSystem();
        if (!fs.exists(file)) {
            return Optional.empty();
        }
        try (InputStream in = fs.open(file)) {
            return Optional.of(Checkpoints.json().readValue(in.readAllBytes(), Pruned.class));
        } catch (com.fasterxml.jackson.core.JacksonException e) {
            throw new IOException("the prune record " + file + " cannot be read (" + e.getOriginalMessage()
                    + "): delete it if the weights beside it are still there, or publish that version again", e);
        }
    }

    /** Throws {@link PrunedException} when {@code ref}'s weights were pruned (rather than a missing-file error). */
    private static void checkNotPruned(ModelRef ref) throws IOException {
        Optional<Pruned> p = pruned(ref);
        if (p.isPresent()) {
            throw new PrunedException("the weights of " + ref.displayName() + " were pruned from the store at "
                    + java.time.Instant.ofEpochMilli(p.get().at()) + " (" + p.get().reason() + "): it can no longer be"
                    + " fetched, served or rolled back to");
        }
    }

    /** Where a model's status records lie: {@code <root>/<name>/status/} (not a version directory name). */
    static final String STATUS_DIR = "status";

    /**
     * Records a change of a published version's status: one new file {@code <root>/<name>/status/v<version>/
     * <time>-<status>-<random>.json} (never a rewrite, so concurrent deciders cannot lose each other's records),
     * signed in a signed store like a manifest.
     *
     * @return the change recorded
     */
    public ModelStatus.Change recordStatus(ModelRef ref, ModelStatus status, String reason) throws IOException {
        return recordStatus(statusDir(ref), status, reason);
    }

    private ModelStatus.Change recordStatus(Path dir, ModelStatus status, String reason) throws IOException {
        FileSystem fs = root.getFileSystem();
        // records are ordered by their file names, which start with the time: a change recorded within the same
        // millisecond as the one before it (a shadow rejected at once, a test), or just after a record of a host whose
        // clock is a little ahead, must still sort after it; a record dated further ahead (a forged one, which a
        // signed store ignores) does not move the times of the genuine ones
        long now = System.currentTimeMillis();
        long newest = newestRecordTime(fs, dir);
        long at = newest >= now && newest < now + 60_000 ? newest + 1 : now;
        ModelStatus.Change c = new ModelStatus.Change(status.wireName(), at, reason);
        byte[] bytes = Checkpoints.json().writeValueAsBytes(c);
        fs.mkdirs(dir);
        String file = String.format("%013d-%s-%s", c.at(), c.status(), UUID.randomUUID().toString().substring(0, 8));
        if (keys != null) {
            writeWhole(fs, new Path(dir, file + ".json.sig"), sign(bytes).getBytes(StandardCharsets.US_ASCII));
        }
        writeWhole(fs, new Path(dir, file + ".json"), bytes);
        return c;
    }

    /** The time in the newest status record's file name in {@code dir}, -1 if none. */
    private static long newestRecordTime(FileSystem fs, Path dir) throws IOException {
        FileStatus[] entries = fs.exists(dir) ? fs.listStatus(dir) : null;
        long newest = -1;
        for (FileStatus e : entries == null ? new FileStatus[0] : entries) {
            String n = e.getPath().getName();
            if (n.length() > 13 && n.substring(0, 13).chars().allMatch(Character::isDigit)) {
                newest = Math.max(newest, Long.parseLong(n.substring(0, 13)));
            }
        }
        return newest;
    }

    /**
     * A version's status changes, oldest first. In a signed store a record without a valid signature is skipped
     * (said in a WARN line): whoever can write to the store cannot mark a version rolled back, or clear that mark.
     */
    public List<ModelStatus.Change> statusHistory(ModelRef ref) throws IOException {
        return statusHistory(statusDir(ref), ref.displayName());
    }

    private List<ModelStatus.Change> statusHistory(Path dir, String what) throws IOException {
        FileSystem fs = root.getFileSystem();
        List<ModelStatus.Change> changes = new ArrayList<>();
        FileStatus[] entries = fs.exists(dir) ? fs.listStatus(dir) : null;
        if (entries == null) {
            return changes;
        }
        List<FileStatus> records = new ArrayList<>(List.of(entries));
        records.removeIf(e -> !e.getPath().getName().endsWith(".json"));
        records.sort(Comparator.comparing(e -> e.getPath().getName()));
        for (FileStatus e : records) {
            try (InputStream in = fs.open(e.getPath())) {
                byte[] bytes = in.readAllBytes();
                if (keys != null) {
                    verifySignature(readSignature(fs, new Path(dir, e.getPath().getName() + ".sig")), bytes, what,
                            e.getPath().toString());
                }
                ModelStatus.Change c = Checkpoints.json().readValue(bytes, ModelStatus.Change.class);
                c.value(); // a known status
                changes.add(c);
            } catch (IOException | RuntimeException bad) {
                LOG.warn("ignoring the status record {} of {}: {}", e.getPath(), what, bad.getMessage());
            }
        }
        return changes;
    }

    /** A version's status now: its newest change, empty if none was recorded (published, never announced). */
    public Optional<ModelStatus.Change> status(ModelRef ref) throws IOException {
        List<ModelStatus.Change> h = statusHistory(ref);
        return h.isEmpty() ? Optional.empty() : Optional.of(h.get(h.size() - 1));
    }

    /**
     * The status of {@code ref} when it is {@code rolled-back} or {@code rejected} (never to be served or adopted
     * again); empty for any other status, or none.
     */
    public Optional<ModelStatus.Change> unusable(ModelRef ref) throws IOException {
        return status(ref).filter(c -> !c.value().usable());
    }

    /**
     * Records that {@code ref} was announced to serve, and that every other version of its model whose status is
     * serving is retired ("replaced by vN").
     */
    public void recordServing(ModelRef ref, String reason) throws IOException {
        Path statusRoot = statusDir(ref).getParent();
        for (long v : versionsServing(statusRoot, ref.name())) {
            if (v != ref.version()) {
                recordStatus(new Path(statusRoot, "v" + v), ModelStatus.RETIRED, "replaced by v" + ref.version());
            }
        }
        recordStatus(ref, ModelStatus.SERVING, reason);
    }

    /**
     * Records a rollback: {@code bad} is {@code rolled-back} (never served or adopted again), {@code target} serving
     * again. Idempotent for a decider that retries after a failure: when {@code bad} is already rolled back nothing
     * is recorded again.
     *
     * @return the rolled-back change of {@code bad} (the earlier one when it was already recorded)
     */
    public ModelStatus.Change recordRollback(ModelRef bad, ModelRef target, String reason) throws IOException {
        Optional<ModelStatus.Change> now = status(bad);
        if (now.isPresent() && now.get().value() == ModelStatus.ROLLED_BACK) {
            return now.get();
        }
        ModelStatus.Change mark = recordStatus(bad, ModelStatus.ROLLED_BACK, reason + "; back to v" + target.version());
        recordServing(target, "serving again: v" + bad.version() + " rolled back (" + reason + ")");
        return mark;
    }

    /** The versions of {@code name} whose status is serving now, highest first (read from the status records only). */
    public List<Long> versionsServing(String name) throws IOException {
        return versionsServing(new Path(new Path(root, name), STATUS_DIR), name);
    }

    private List<Long> versionsServing(Path statusRoot, String name) throws IOException {
        FileSystem fs = root.getFileSystem();
        FileStatus[] versions = fs.exists(statusRoot) ? fs.listStatus(statusRoot) : null; // versions with records only
        List<Long> serving = new ArrayList<>();
        for (FileStatus v : versions == null ? new FileStatus[0] : versions) {
            Matcher dirName = VERSION_DIR.matcher(v.getPath().getName());
            if (!v.isDir() || !dirName.matches()) {
                continue;
            }
            List<ModelStatus.Change> h = statusHistory(v.getPath(), name + " " + v.getPath().getName());
            if (!h.isEmpty() && h.get(h.size() - 1).value() == ModelStatus.SERVING) {
                serving.add(Long.parseLong(dirName.group(1)));
            }
        }
        serving.sort(Comparator.reverseOrder());
        return serving;
    }

    /**
     * The status directory of a version: beside its version directory, found from the reference's URI (so a job
     * that knows a version only by its {@code ModelRef} finds it too).
     */
    private static Path statusDir(ModelRef ref) {
        Path versionDir = new Path(ref.uri());
        return new Path(new Path(versionDir.getParent(), STATUS_DIR), "v" + ref.version());
    }

    /**
     * Makes the referenced checkpoint available locally and verified, in a cache shared by every thread and
     * process that fetches into {@code cache}. The entry is keyed by the <em>whole</em> checkpoint: its directory is
     * {@code <cache>/<name>-v<version>-<16 hex digits of the manifest's SHA-256>} (the manifest names the weights'
     * SHA-256, so two checkpoints share an entry only if manifest and weights are the same bytes). The manifest is
     * read from the store first (small), checked against the reference, and decides the entry; the entry is made by
     * a single directory rename (written and verified first in a private {@code .fetch-*} directory), so a reader
     * never sees a partial copy; an entry that is already there and verifies is reused without copying (and its
     * modification time set to now: {@link ModelCache} evicts the least recently used). Concurrent fetches of one
     * version are safe: one rename wins, the others verify and use its result. Verified: the manifest parses and
     * names the reference's model name, version and weights' SHA-256, the model zip's size and SHA-256 match, and
     * in a signed store the manifest's signature.
     *
     * @return the verified local checkpoint directory
     * @throws CheckpointException when anything does not verify (nothing is left in the cache then)
     */
    public java.nio.file.Path fetch(ModelRef ref, java.nio.file.Path cache) throws IOException {
        String sha = ref.sha256().toLowerCase(java.util.Locale.ROOT);
        if (!sha.matches("[0-9a-f]{64}")) {
            throw new CheckpointException("reference " + ref.displayName() + " has an invalid SHA-256 '" + ref.sha256() + "'");
        }
        Path src = new Path(ref.uri());
        FileSystem fs = src.getFileSystem();
        byte[] manifestBytes;
        try (InputStream in = fs.open(new Path(src, Checkpoints.MANIFEST))) {
            manifestBytes = in.readAllBytes();
        }
        checkManifest(manifestBytes, ref);
        Files.createDirectories(cache);
        java.nio.file.Path target = cache.resolve(cacheKey(ref, manifestBytes));
        if (Files.isDirectory(target)) {
            try {
                verifyLocal(target, ref);
                Files.setLastModifiedTime(target, java.nio.file.attribute.FileTime.fromMillis(System.currentTimeMillis()));
                return target;
            } catch (CheckpointException e) {
                LOG.warn("cached {} at {} does not verify ({}); fetching it again", ref.displayName(), target, e.getMessage());
                MoreFiles.deleteRecursively(moveAside(target, cache));
            }
        }
        checkNotPruned(ref);
        java.nio.file.Path tmp = Files.createDirectory(cache.resolve(ModelCache.FETCHING + UUID.randomUUID()));
        try {
            Files.write(tmp.resolve(Checkpoints.MANIFEST), manifestBytes); // the bytes the entry is keyed by
            try (InputStream in = fs.open(new Path(src, Checkpoints.MODEL))) {
                Files.copy(in, tmp.resolve(Checkpoints.MODEL));
            }
            if (keys != null && fs.exists(new Path(src, SIGNATURE))) {
                try (InputStream in = fs.open(new Path(src, SIGNATURE))) {
                    Files.copy(in, tmp.resolve(SIGNATURE));
                }
            }
            verifyLocal(tmp, ref);
            try {
                Files.move(tmp, target, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                throw new IOException("the model cache " + cache + " does not support atomic renames", e);
            } catch (FileSystemException e) {
                // rename(2) onto a non-empty directory fails (ENOTEMPTY, reported as a plain FileSystemException
                // for ATOMIC_MOVE): a concurrent fetch won the rename
                if (!Files.isDirectory(target)) {
                    throw e;
                }
                verifyLocal(target, ref);
            }
            return target;
        } finally {
            if (Files.exists(tmp)) {
                MoreFiles.deleteRecursively(tmp);
            }
        }
    }

    /**
     * The cache directory's name for a checkpoint: model name, version and the manifest's SHA-256 (which names the
     * weights'). Keyed by the weights alone, a re-versioned copy (same model.zip, another manifest) shared the first
     * one's directory, failed its manifest check there, and moved it aside under a reader; keyed by name and version
     * too, a store rebuilt with other labels or preprocessing for the same weights would be served the old manifest.
     */
    static String cacheKey(ModelRef ref, byte[] manifestBytes) {
        String digest;
        try {
            digest = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(manifestBytes)).substring(0, 16);
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        return ModelCache.entryPrefix(ref) + digest;
    }

    static java.nio.file.Path moveAside(java.nio.file.Path dir, java.nio.file.Path cache) throws IOException {
        java.nio.file.Path aside = cache.resolve(ModelCache.STALE + UUID.randomUUID());
        Files.move(dir, aside, StandardCopyOption.ATOMIC_MOVE);
        return aside;
    }

    /** Verifies a local copy of a checkpoint against its reference (see {@link #fetch}). */
    private void verifyLocal(java.nio.file.Path dir, ModelRef ref) throws CheckpointException {
        byte[] manifestBytes;
        try {
            manifestBytes = Files.readAllBytes(dir.resolve(Checkpoints.MANIFEST));
        } catch (IOException e) {
            throw new CheckpointException("no readable manifest for " + ref.displayName() + " at " + ref.uri(), e);
        }
        Manifest m = checkManifest(manifestBytes, ref);
        Checkpoints.verifyFile(dir.resolve(m.modelFile()), m);
        String sig;
        try {
            java.nio.file.Path sigFile = dir.resolve(SIGNATURE);
            sig = Files.isRegularFile(sigFile) ? Files.readString(sigFile, StandardCharsets.US_ASCII) : null;
        } catch (IOException e) {
            throw new CheckpointException("cannot read the signature of " + ref.displayName(), e);
        }
        verifySignature(sig, manifestBytes, ref);
    }

    /**
     * Verifies a published checkpoint where it lies, without copying it: manifest against the reference, the
     * model zip's size and SHA-256 (streamed), and the signature in a signed store.
     *
     * @return the verified manifest
     * @throws CheckpointException saying what does not verify
     */
    public Manifest verify(ModelRef ref) throws IOException {
        Path dir = new Path(ref.uri());
        FileSystem fs = dir.getFileSystem();
        byte[] manifestBytes;
        try (InputStream in = fs.open(new Path(dir, Checkpoints.MANIFEST))) {
            manifestBytes = in.readAllBytes();
        }
        Manifest m = checkManifest(manifestBytes, ref);
        verifySignature(keys == null ? null : readSignature(fs, new Path(dir, SIGNATURE)), manifestBytes, ref);
        checkNotPruned(ref);
        java.security.MessageDigest digest;
        try {
            digest = java.security.MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
        long size = 0;
        try (InputStream in = fs.open(new Path(dir, m.modelFile()))) {
            byte[] buf = new byte[1 << 16];
            for (int n; (n = in.read(buf)) > 0; ) {
                digest.update(buf, 0, n);
                size += n;
            }
        }
        String hash = HexFormat.of().formatHex(digest.digest());
        if (size != m.modelBytes() || !hash.equalsIgnoreCase(m.sha256())) {
            throw new CheckpointException("model file of " + ref.displayName() + " at " + ref.uri() + " has " + size
                    + " bytes and SHA-256 " + hash + ", the manifest says " + m.modelBytes() + " and " + m.sha256());
        }
        return m;
    }

    /** A detached signature file's content, or null when there is none. */
    private static String readSignature(FileSystem fs, Path file) throws IOException {
        if (!fs.exists(file)) {
            return null;
        }
        try (InputStream in = fs.open(file)) {
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        }
    }

    /** Parses a manifest and checks it names the reference's model, version and zip hash. */
    private static Manifest checkManifest(byte[] manifestBytes, ModelRef ref) throws CheckpointException {
        Manifest m = Checkpoints.readManifest(manifestBytes, ref.uri() + Checkpoints.MANIFEST);
        if (!m.sha256().equalsIgnoreCase(ref.sha256())) {
            throw new CheckpointException("checkpoint at " + ref.uri() + " has SHA-256 " + m.sha256()
                    + " in its manifest, the reference says " + ref.sha256());
        }
        if (!m.name().equals(ref.name()) || m.version() != ref.version()) {
            throw new CheckpointException("checkpoint at " + ref.uri() + " is " + m.displayName()
                    + ", the reference says " + ref.displayName());
        }
        return m;
    }

    private void verifySignature(String sig, byte[] manifestBytes, ModelRef ref) throws CheckpointException {
        verifySignature(sig, manifestBytes, ref.displayName(), ref.uri());
    }

    /** Verifies a detached signature of {@code bytes} (a manifest, a status record) of {@code what} at {@code where}. */
    private void verifySignature(String sig, byte[] manifestBytes, String what, String where) throws CheckpointException {
        if (keys == null) {
            return;
        }
        if (sig == null || sig.isBlank()) {
            throw new CheckpointException(what + " at " + where + " is not signed and this store requires signatures");
        }
        String[] parts = sig.strip().split("\\s+");
        if (parts.length > 2) {
            throw new CheckpointException(what + " at " + where + " has a wrong signature");
        }
        String mac = parts[parts.length - 1].toLowerCase(java.util.Locale.ROOT);
        List<String> candidates = parts.length == 1 ? keys.ids() : List.of(parts[0]); // no id: signed before key ids
        if (parts.length == 2 && keys.mac(parts[0], manifestBytes) == null) {
            throw new CheckpointException(what + " at " + where + " is signed with key " + parts[0]
                    + ", which this job does not hold (it holds " + keys.fingerprint() + "): a retired key? List it"
                    + " after the signing key in the key file while versions it signed are served");
        }
        for (String id : candidates) {
            if (MessageDigest.isEqual(keys.mac(id, manifestBytes).getBytes(StandardCharsets.US_ASCII),
                    mac.getBytes(StandardCharsets.US_ASCII))) {
                return;
            }
        }
        throw new CheckpointException(what + " at " + where + " has a wrong signature");
    }

    /** The signature file's content for a manifest: the signing key's id, a space, the hex HMAC-SHA256. */
    String sign(byte[] manifestBytes) {
        return keys.signingId() + " " + keys.mac(keys.signingId(), manifestBytes) + "\n";
    }
}
