package dev.crmn.model.checkpoint;

import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.security.DigestInputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Map;
import java.util.TreeMap;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.util.ModelSerializer;

/**
 * Writes and reads checkpoints: a directory holding {@code model.zip} (DL4J's format, updater state
 * included) and {@code manifest.json}. Writing is atomic (a temporary directory renamed into place) and a
 * checkpoint directory, once written, is never modified. Reading verifies size, SHA-256, the manifest and
 * that the network's structure is the one the manifest's architecture describes.
 */
public final class Checkpoints {

    public static final String MANIFEST = "manifest.json";
    public static final String MODEL = "model.zip";

    private static final ObjectMapper JSON = new ObjectMapper()
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    private Checkpoints() {
    }

    /** The JSON mapper for manifests (snake_case fields as declared). */
    public static ObjectMapper json() {
        return JSON;
    }

    /** A loaded, verified checkpoint. The network is the caller's: not shared, not thread-safe. */
    /** A name that is one path segment and nothing else: not empty, no separator, not "." or "..", no control chars. */
    static boolean plainSegment(String s) {
        return s != null && s.matches("[A-Za-z0-9._-]{1,200}") && !s.equals(".") && !s.equals("..");
    }

    public record Loaded(Path directory, Manifest manifest, ComputationGraph network) {
    }

    /**
     * Writes {@code net} and {@code manifest} (size and hash are filled in) to a new directory {@code dir}.
     *
     * @return the manifest as written
     * @throws CheckpointException if {@code dir} exists or the write fails
     */
    public static Manifest write(Path dir, ComputationGraph net, Manifest manifest) throws CheckpointException {
        return write(dir, net, manifest, Map.of());
    }

    /**
     * As {@link #write(Path, ComputationGraph, Manifest)}, with extra files (e.g. training curves) placed in
     * the directory beside the model; they are not covered by the hash.
     */
    public static Manifest write(Path dir, ComputationGraph net, Manifest manifest, Map<String, byte[]> extraFiles)
            throws CheckpointException {
        return writeDirectory(dir, tmp -> {
            Path zip = tmp.resolve(MODEL);
            ModelSerializer.writeModel(net, zip.toFile(), true);
            Manifest full = manifest.withModelFile(MODEL, Files.size(zip), sha256(zip));
            writeManifest(tmp.resolve(MANIFEST), full);
            for (Map.Entry<String, byte[]> e : extraFiles.entrySet()) {
                if (e.getKey().equals(MANIFEST) || e.getKey().equals(MODEL) || e.getKey().contains("/")) {
                    throw new IllegalArgumentException("bad extra file name " + e.getKey());
                }
                Files.write(tmp.resolve(e.getKey()), e.getValue());
            }
            return full;
        });
    }

    /**
     * A checkpoint in memory: its manifest (size and hash of the zip filled in) and the DL4J model zip, e.g. to keep
     * in operator state until it is published.
     */
    public record Serialized(Manifest manifest, byte[] zip) {
    }

    /** {@code net} and {@code manifest} as an in-memory checkpoint (updater state included). */
    public static Serialized serialize(ComputationGraph net, Manifest manifest) throws CheckpointException {
        byte[] zip = toZipBytes(net);
        return new Serialized(manifest.withModelFile(MODEL, zip.length, sha256(zip)), zip);
    }

    /** Writes an in-memory checkpoint to a new directory, like {@link #write(Path, ComputationGraph, Manifest)}. */
    public static Manifest write(Path dir, Serialized checkpoint) throws CheckpointException {
        return writeDirectory(dir, tmp -> {
            Files.write(tmp.resolve(MODEL), checkpoint.zip());
            writeManifest(tmp.resolve(MANIFEST), checkpoint.manifest());
            return checkpoint.manifest();
        });
    }

    /** Fills a hidden temporary directory beside {@code dir} and renames it to {@code dir}. */
    private static Manifest writeDirectory(Path dir, DirectoryFiller fill) throws CheckpointException {
        Path parent = dir.toAbsolutePath().getParent();
        if (Files.exists(dir)) {
            throw new CheckpointException("checkpoint " + dir + " already exists; checkpoints are immutable");
        }
        Path tmp = null;
        try {
            Files.createDirectories(parent);
            // not createTempDirectory: its rwx------ would make checkpoints unreadable to the group
            tmp = Files.createDirectory(parent.resolve("." + dir.getFileName() + ".tmp-" + java.util.UUID.randomUUID()));
            Manifest written = fill.fill(tmp);
            try {
                Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, dir);
            }
            tmp = null;
            return written;
        } catch (FileAlreadyExistsException e) {
            throw new CheckpointException("checkpoint " + dir + " already exists; checkpoints are immutable", e);
        } catch (IOException e) {
            throw new CheckpointException("cannot write checkpoint " + dir + ": " + e.getMessage(), e);
        } finally {
            if (tmp != null) {
                dev.crmn.model.util.MoreFiles.deleteQuietly(tmp);
            }
        }
    }

    @FunctionalInterface
    private interface DirectoryFiller {
        Manifest fill(Path tmp) throws IOException;
    }

    /** Writes a manifest file (pretty JSON). */
    public static void writeManifest(Path file, Manifest m) throws IOException {
        try (OutputStream out = Files.newOutputStream(file)) {
            JSON.writeValue(out, m);
        }
    }

    /** Reads and checks a manifest: readable JSON, known schema, required fields present. */
    public static Manifest readManifest(Path file) throws CheckpointException {
        byte[] bytes;
        try {
            bytes = Files.readAllBytes(file);
        } catch (IOException e) {
            throw new CheckpointException("unreadable manifest " + file + ": " + e.getMessage(), e);
        }
        return readManifest(bytes, file.toString());
    }

    /** Reads and checks a manifest from its bytes; {@code source} names it in errors. */
    public static Manifest readManifest(byte[] bytes, String source) throws CheckpointException {
        Manifest m;
        try {
            m = JSON.readValue(bytes, Manifest.class);
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException("unreadable manifest " + source + ": " + e.getMessage(), e);
        }
        if (m == null) {
            throw new CheckpointException("manifest " + source + " is empty");
        }
        if (m.schema() < 1 || m.schema() > Manifest.CURRENT_SCHEMA) {
            throw new CheckpointException("manifest " + source + " has schema " + m.schema() + "; this build reads 1.."
                    + Manifest.CURRENT_SCHEMA);
        }
        if (m.architecture() == null || m.input() == null || m.normalization() == null || m.labels() == null
                || m.sha256() == null || m.modelFile() == null || m.name() == null) {
            throw new CheckpointException("manifest " + source + " lacks a required field (name, architecture, input,"
                    + " normalization, labels, model_file, sha256)");
        }
        for (String[] field : new String[][]{{"name", m.name()}, {"model_file", m.modelFile()}}) {
            if (!plainSegment(field[1])) { // both become file names: a store's <root>/<name>/, a checkpoint's zip
                throw new CheckpointException("manifest " + source + " has " + field[0] + " '" + field[1] + "': a plain"
                        + " file name is expected (letters, digits, '.', '_', '-'; no '/', '\\' or '..')");
            }
        }
        if (m.labels().size() != m.architecture().classes()) {
            throw new CheckpointException("manifest " + source + " lists " + m.labels().size() + " labels for a "
                    + m.architecture().classes() + "-class architecture");
        }
        if (m.normalization().channels() != m.architecture().channels()) {
            throw new CheckpointException("manifest " + source + ": normalization has " + m.normalization().channels()
                    + " channels, architecture " + m.architecture().channels());
        }
        if (m.input().channels() != m.architecture().channels() || m.input().height() != m.architecture().height()
                || m.input().width() != m.architecture().width()) {
            throw new CheckpointException("manifest " + source + ": input " + m.input().height() + "x" + m.input().width()
                    + "x" + m.input().channels() + " differs from the architecture's " + m.architecture().height() + "x"
                    + m.architecture().width() + "x" + m.architecture().channels());
        }
        return m;
    }

    /** The checkpoint directory for a path naming the directory itself or its manifest. */
    public static Path directoryOf(Path path) {
        return Files.isDirectory(path) ? path : path.toAbsolutePath().getParent();
    }

    /**
     * Loads and verifies a checkpoint.
     *
     * @param path the checkpoint directory or its manifest file
     * @param withUpdater whether to restore the updater state (needed only to resume training)
     * @throws CheckpointException if anything is missing, corrupted, truncated or mismatched
     */
    public static Loaded load(Path path, boolean withUpdater) throws CheckpointException {
        if (!Files.exists(path)) {
            throw new CheckpointException("checkpoint " + path + " does not exist");
        }
        Path dir = directoryOf(path);
        Path manifestFile = dir.resolve(MANIFEST);
        if (!Files.isRegularFile(manifestFile)) {
            throw new CheckpointException("no " + MANIFEST + " in " + dir);
        }
        Manifest m = readManifest(manifestFile);
        Path zip = dir.resolve(m.modelFile());
        verifyFile(zip, m);
        ComputationGraph net;
        try {
            net = dev.crmn.model.graph.Graphs.withMemoryOrder(ModelSerializer.restoreComputationGraph(zip.toFile(), withUpdater));
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException("corrupt model file " + zip + ": " + e.getMessage(), e);
        }
        verifyArchitecture(net, m, zip.toString());
        return new Loaded(dir, m, net);
    }

    /**
     * Loads and verifies a checkpoint held in memory (operator state, a remote store's streams): the manifest's
     * bytes and the model zip's bytes, checked exactly as {@link #load(Path, boolean)} checks files. The
     * result's {@code directory} is null.
     */
    public static Loaded load(byte[] manifestJson, byte[] modelZip, boolean withUpdater) throws CheckpointException {
        Manifest m = readManifest(manifestJson, "(in memory)");
        if (modelZip.length != m.modelBytes()) {
            throw new CheckpointException("model zip has " + modelZip.length + " bytes, the manifest says "
                    + m.modelBytes() + " (truncated or replaced)");
        }
        String hash = sha256(modelZip);
        if (!hash.equalsIgnoreCase(m.sha256())) {
            throw new CheckpointException("model zip has SHA-256 " + hash + ", the manifest says " + m.sha256()
                    + " (corrupted or tampered)");
        }
        ComputationGraph net;
        try {
            net = dev.crmn.model.graph.Graphs.withMemoryOrder(ModelSerializer.restoreComputationGraph(
                    new ByteArrayInputStream(modelZip), withUpdater));
        } catch (IOException | RuntimeException e) {
            throw new CheckpointException("corrupt model zip: " + e.getMessage(), e);
        }
        verifyArchitecture(net, m, "model zip of " + m.displayName());
        return new Loaded(null, m, net);
    }

    /** As {@link #load(byte[], byte[], boolean)}, reading both streams to their end (the caller closes them). */
    public static Loaded load(InputStream manifestJson, InputStream modelZip, boolean withUpdater) throws CheckpointException {
        try {
            return load(manifestJson.readAllBytes(), modelZip.readAllBytes(), withUpdater);
        } catch (CheckpointException e) {
            throw e;
        } catch (IOException e) {
            throw new CheckpointException("cannot read checkpoint streams: " + e.getMessage(), e);
        }
    }

    /** A network as a DL4J model zip in memory (updater state included), e.g. for operator state. */
    public static byte[] toZipBytes(ComputationGraph net) throws CheckpointException {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream();
        try {
            ModelSerializer.writeModel(net, out, true);
        } catch (IOException e) {
            throw new CheckpointException("cannot serialise the network: " + e.getMessage(), e);
        }
        return out.toByteArray();
    }

    /** Checks size and SHA-256 of the model file against the manifest. */
    public static void verifyFile(Path zip, Manifest m) throws CheckpointException {
        try {
            if (!Files.isRegularFile(zip)) {
                throw new CheckpointException("model file " + zip + " is missing");
            }
            long size = Files.size(zip);
            if (size != m.modelBytes()) {
                throw new CheckpointException("model file " + zip + " has " + size + " bytes, the manifest says "
                        + m.modelBytes() + " (truncated or replaced)");
            }
            String hash = sha256(zip);
            if (!hash.equalsIgnoreCase(m.sha256())) {
                throw new CheckpointException("model file " + zip + " has SHA-256 " + hash + ", the manifest says "
                        + m.sha256() + " (corrupted or tampered)");
            }
        } catch (CheckpointException e) {
            throw e;
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + zip + ": " + e.getMessage(), e);
        }
    }

    /** Checks that the network is exactly the one the manifest's architecture builds. */
    static void verifyArchitecture(ComputationGraph net, Manifest m, String zip) throws CheckpointException {
        CNN2DFormat layout;
        try {
            layout = CNN2DFormat.valueOf(m.input().layout());
        } catch (RuntimeException e) {
            throw new CheckpointException("manifest input layout '" + m.input().layout() + "' is not NHWC or NCHW");
        }
        ComputationGraphConfiguration expected = CrmnGraphBuilder.configuration(m.architecture(),
                GraphOptions.training().withLayout(layout));
        Map<String, String> want = structure(expected);
        Map<String, String> got = structure(net.getConfiguration());
        if (!want.equals(got)) {
            StringBuilder diff = new StringBuilder();
            for (String k : want.keySet()) {
                if (!want.get(k).equals(got.get(k))) {
                    diff.append(" ").append(k).append(": expected ").append(want.get(k)).append(", found ")
                            .append(got.get(k)).append(';');
                    if (diff.length() > 300) {
                        break;
                    }
                }
            }
            for (String k : got.keySet()) {
                if (!want.containsKey(k) && diff.length() <= 300) {
                    diff.append(" unexpected vertex ").append(k).append(';');
                }
            }
            throw new CheckpointException("model file " + zip + " does not match the manifest's architecture "
                    + m.architecture().shortName() + ":" + diff);
        }
    }

    /** Vertex name to a description of its type and size, for structural comparison. */
    static Map<String, String> structure(ComputationGraphConfiguration conf) {
        Map<String, String> s = new TreeMap<>();
        for (Map.Entry<String, GraphVertex> e : conf.getVertices().entrySet()) {
            GraphVertex v = e.getValue();
            String desc = v.getClass().getSimpleName();
            if (v instanceof LayerVertex lv) {
                Layer l = lv.getLayerConf().getLayer();
                if (l instanceof BaseWrapperLayer w) {
                    desc += "/" + l.getClass().getSimpleName();
                    l = w.getUnderlying();
                }
                desc += "/" + l.getClass().getSimpleName();
                if (l instanceof FeedForwardLayer ff) {
                    desc += "[" + ff.getNIn() + "->" + ff.getNOut() + "]";
                }
            }
            s.put(e.getKey(), desc);
        }
        return s;
    }

    /** Hex SHA-256 of bytes. */
    public static String sha256(byte[] bytes) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(bytes));
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("JDK without SHA-256", e);
        }
    }

    /** Hex SHA-256 of a file. */
    public static String sha256(Path file) throws IOException {
        try (InputStream in = new DigestInputStream(Files.newInputStream(file), MessageDigest.getInstance("SHA-256"))) {
            byte[] buf = new byte[1 << 16];
            while (in.read(buf) >= 0) {
                // digesting
            }
            return HexFormat.of().formatHex(((DigestInputStream) in).getMessageDigest().digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("JDK without SHA-256", e);
        }
    }
}
