package dev.crmn.model.infer;

import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * Reference inputs and outputs of an engine, for checking another engine where DL4J is not at hand (the GPU
 * check): {@code n} normalised NHWC images, their true labels, and the class probabilities the CPU serving
 * network computed for them. Big-endian: the magic {@code CRMNREF1}, {@code n, height, width, channels,
 * classes}, the labels, then the arrays as {@link ServingWeightsFile} writes them.
 */
public record ReferenceFile(int n, int height, int width, int channels, int[] labels, float[] nhwc,
                            float[][] probabilities) {

    private static final String MAGIC = "CRMNREF1";

    public void write(Path file) throws IOException {
        try (DataOutputStream out = new DataOutputStream(new BufferedOutputStream(Files.newOutputStream(file), 1 << 16))) {
            out.writeBytes(MAGIC);
            for (int v : new int[]{n, height, width, channels, probabilities[0].length}) {
                out.writeInt(v);
            }
            for (int l : labels) {
                out.writeInt(l);
            }
            ServingWeightsFile.floats(out, nhwc);
            for (float[] p : probabilities) {
                ServingWeightsFile.floats(out, p);
            }
        }
    }

    public static ReferenceFile read(Path file) throws IOException {
        try (DataInputStream in = new DataInputStream(new BufferedInputStream(Files.newInputStream(file), 1 << 16))) {
            ServingWeightsFile.requireMagic(in, MAGIC, file, "a reference file");
            int n = in.readInt();
            int h = in.readInt();
            int w = in.readInt();
            int c = in.readInt();
            in.readInt(); // classes: each probability row carries its length
            int[] labels = new int[n];
            for (int i = 0; i < n; i++) {
                labels[i] = in.readInt();
            }
            float[] nhwc = ServingWeightsFile.floats(in);
            float[][] p = new float[n][];
            for (int i = 0; i < n; i++) {
                p[i] = ServingWeightsFile.floats(in);
            }
            return new ReferenceFile(n, h, w, c, labels, nhwc, p);
        }
    }
}
