package dev.crmn.model.infer;

import dev.crmn.model.config.CrmnConfig;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * {@link ServingWeights} as one self-contained binary file: what an engine needs to serve a checkpoint, readable
 * with no DL4J or ND4J on the class path (the GPU check bundle ships it instead of the checkpoint). Big-endian
 * {@code DataOutputStream} layout: the magic {@code CRMNSW01}, the architecture's fields, then the arrays in the
 * order of {@link ServingWeights}'s components, each with its length; a null is length -1.
 */
public final class ServingWeightsFile {

    private static final String MAGIC = "CRMNSW01";

    private ServingWeightsFile() {
    }

    /** Writes {@code sw} to {@code file} (replaced if it exists). */
    public static void write(ServingWeights sw, Path file) throws IOException {
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16))) {
            out.writeBytes(MAGIC);
            CrmnConfig c = sw.config();
            out.writeInt(c.depth());
            out.writeInt(c.widen());
            out.writeBoolean(c.memory());
            out.writeInt(c.lstmSize());
            out.writeUTF(c.memoryInput().name());
            out.writeInt(c.memoryInputSize());
            out.writeUTF(c.fusion().name());
            out.writeInt(c.classes());
            out.writeInt(c.height());
            out.writeInt(c.width());
            out.writeInt(c.channels());
            conv(out, sw.stem());
            out.writeInt(sw.blocks().size());
            for (ServingWeights.Block b : sw.blocks()) {
                affine(out, b.bn1());
                out.writeBoolean(b.shortcut() != null);
                if (b.shortcut() != null) {
                    conv(out, b.shortcut());
                }
                conv(out, b.conv1());
                conv(out, b.conv2());
            }
            affine(out, sw.finalBn());
            out.writeInt(sw.projections().size());
            for (float[][] p : sw.projections()) {
                matrix(out, p);
            }
            out.writeBoolean(sw.lstm() != null);
            if (sw.lstm() != null) {
                matrix(out, sw.lstm().input());
                matrix(out, sw.lstm().recurrent());
                floats(out, sw.lstm().bias());
                out.writeInt(sw.lstm().hidden());
            }
            matrix(out, sw.output());
            floats(out, sw.outputBias());
        }
    }

    /**
     * Reads a file {@link #write} wrote.
     *
     * @throws IOException if it cannot be read or is not such a file (the message names it)
     */
    public static ServingWeights read(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            requireMagic(in, MAGIC, file, "a serving-weights file");
            CrmnConfig cfg = CrmnConfig.builder().depth(in.readInt()).widen(in.readInt()).memory(in.readBoolean())
                    .lstmSize(in.readInt()).memoryInput(CrmnConfig.MemoryInput.valueOf(in.readUTF()))
                    .memoryInputSize(in.readInt()).fusion(CrmnConfig.Fusion.valueOf(in.readUTF()))
                    .classes(in.readInt()).input(in.readInt(), in.readInt(), in.readInt()).build();
            ServingWeights.Conv stem = conv(in);
            int count = in.readInt();
            List<ServingWeights.Block> blocks = new ArrayList<>();
            for (int i = 0; i < count; i++) {
                ServingWeights.Affine bn1 = affine(in);
                ServingWeights.Conv shortcut = in.readBoolean() ? conv(in) : null;
                blocks.add(new ServingWeights.Block(bn1, shortcut, conv(in), conv(in)));
            }
            ServingWeights.Affine finalBn = affine(in);
            int steps = in.readInt();
            List<float[][]> projections = new ArrayList<>();
            for (int t = 0; t < steps; t++) {
                projections.add(matrix(in));
            }
            ServingWeights.Lstm lstm = in.readBoolean()
                    ? new ServingWeights.Lstm(matrix(in), matrix(in), floats(in), in.readInt()) : null;
            return new ServingWeights(cfg, stem, List.copyOf(blocks), finalBn, List.copyOf(projections), lstm,
                    matrix(in), floats(in));
        } catch (java.io.EOFException | IllegalArgumentException e) {
            throw new IOException(file + " is not a complete serving-weights file: " + e, e);
        }
    }

    private static void conv(DataOutputStream out, ServingWeights.Conv c) throws IOException {
        out.writeInt(c.out());
        out.writeInt(c.in());
        out.writeInt(c.kernel());
        out.writeInt(c.stride());
        floats(out, c.weights());
        floats(out, c.bias());
    }

    private static ServingWeights.Conv conv(DataInputStream in) throws IOException {
        int o = in.readInt();
        int i = in.readInt();
        int k = in.readInt();
        int s = in.readInt();
        return new ServingWeights.Conv(floats(in), o, i, k, s, floats(in));
    }

    private static void affine(DataOutputStream out, ServingWeights.Affine a) throws IOException {
        floats(out, a.scale());
        floats(out, a.shift());
    }

    private static ServingWeights.Affine affine(DataInputStream in) throws IOException {
        return new ServingWeights.Affine(floats(in), floats(in));
    }

    private static void matrix(DataOutputStream out, float[][] m) throws IOException {
        out.writeInt(m.length);
        for (float[] row : m) {
            floats(out, row);
        }
    }

    private static float[][] matrix(DataInputStream in) throws IOException {
        float[][] m = new float[in.readInt()][];
        for (int r = 0; r < m.length; r++) {
            m[r] = floats(in);
        }
        return m;
    }

    /**
     * Reads the {@code magic} bytes a file of this kind starts with.
     *
     * @throws IOException naming {@code file} as not {@code what} if they differ
     */
    static void requireMagic(DataInputStream in, String magic, Path file, String what) throws IOException {
        byte[] head = new byte[magic.length()];
        in.readFully(head);
        if (!magic.equals(new String(head, java.nio.charset.StandardCharsets.US_ASCII))) {
            throw new IOException(file + " is not " + what + " (no " + magic + " header)");
        }
    }

    /** A float array with its length; null as -1. */
    public static void floats(DataOutputStream out, float[] a) throws IOException {
        out.writeInt(a == null ? -1 : a.length);
        if (a != null) {
            byte[] bytes = new byte[a.length * 4];
            java.nio.ByteBuffer.wrap(bytes).asFloatBuffer().put(a);
            out.write(bytes);
        }
    }

    /** A float array {@link #floats(DataOutputStream, float[])} wrote. */
    public static float[] floats(DataInputStream in) throws IOException {
        int n = in.readInt();
        if (n < 0) {
            return null;
        }
        byte[] bytes = new byte[n * 4];
        in.readFully(bytes);
        float[] a = new float[n];
        java.nio.ByteBuffer.wrap(bytes).asFloatBuffer().get(a);
        return a;
    }
}
