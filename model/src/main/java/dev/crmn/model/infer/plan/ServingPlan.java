package dev.crmn.model.infer.plan;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.infer.ServingWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

/**
 * {@link ServingWeights} laid out for a channels-first (NCHW) engine with cuDNN's conventions, and the order of
 * operations that computes the network with it ({@link #forward}). The CUDA engine executes it with cuDNN and
 * cuBLAS; the tests execute it with a plain-Java {@link PlanOps} and compare with the CPU {@code ServingNetwork},
 * so what differs between the engines (padding, gate order, matrix layouts) is checked without a GPU.
 *
 * <p>Layout decisions, each made here once:
 * <ul>
 *   <li>SAME padding: cuDNN pads symmetrically; where SAME needs more padding at the bottom/right than at the
 *       top/left (a 3×3 stride-2 convolution of an even size), the input is first copied into a zeroed
 *       {@link #PADDED} buffer with those borders and convolved without padding.</li>
 *   <li>Convolution weights stay OIHW (cuDNN's NCHW filter layout); a batch norm after a convolution stays folded
 *       into it ({@code conv1}'s bias).</li>
 *   <li>Matrices stay {@code [rows][cols]} row-major with {@code input × matrix}; the output layer is split into
 *       the rows that read the pooled features and those that read the memory, so the fusion (concatenation or
 *       sum) needs no copy: two products into the same logits.</li>
 *   <li>The LSTM is cuDNN's: per gate (linear layer IDs 0-3: input, forget, cell, output on the input side; 4-7
 *       the same on the recurrent side) a row-major {@code [hidden][inputSize]} or {@code [hidden][hidden]} matrix
 *       {@code W_g} computing {@code W_g · x}, the transpose of the description's column block; the input-side
 *       biases carry the description's bias, the recurrent-side biases are zero.</li>
 * </ul>
 */
public final class ServingPlan {

    /** The role of the zero-bordered buffers that asymmetric SAME padding copies into. */
    public static final String PADDED = "padded";

    /**
     * A convolution: OIHW weights, optional bias, and the SAME padding of its input size, split into the
     * top/left and bottom/right amounts.
     */
    public record ConvSpec(float[] weights, float[] bias, int out, int in, int kernel, int stride, int inH, int inW,
                           int padTop, int padLeft, int padBottom, int padRight) {

        /** Output height. */
        public int outH() {
            return (inH + padTop + padBottom - kernel) / stride + 1;
        }

        /** Output width. */
        public int outW() {
            return (inW + padLeft + padRight - kernel) / stride + 1;
        }

        /** Whether the padding is the same on both sides (cuDNN pads so; otherwise the plan pads explicitly). */
        public boolean symmetric() {
            return padTop == padBottom && padLeft == padRight;
        }

        /** The symmetric padding the convolution itself applies: 0 on an explicitly padded input. */
        public int pad() {
            return symmetric() ? padTop : 0;
        }

        /** The height of the convolution's actual input (padded when not symmetric). */
        public int inputHeight() {
            return symmetric() ? inH : inH + padTop + padBottom;
        }

        /** The width of the convolution's actual input. */
        public int inputWidth() {
            return symmetric() ? inW : inW + padLeft + padRight;
        }

        static ConvSpec of(ServingWeights.Conv c, int inH, int inW) {
            int padH = samePadding(inH, c.kernel(), c.stride());
            int padW = samePadding(inW, c.kernel(), c.stride());
            return new ConvSpec(c.weights(), c.bias(), c.out(), c.in(), c.kernel(), c.stride(), inH, inW, padH / 2,
                    padW / 2, padH - padH / 2, padW - padW / 2);
        }
    }

    /** A per-channel affine map {@code x * scale + shift} (a batch norm in inference mode). */
    public record AffineSpec(float[] scale, float[] shift) {
    }

    /** A row-major {@code [rows][cols]} matrix, applied as {@code input × matrix}. */
    public record MatrixSpec(float[] values, int rows, int cols) {
        static MatrixSpec of(float[][] m, int from, int to) {
            int cols = m[0].length;
            float[] v = new float[(to - from) * cols];
            for (int r = from; r < to; r++) {
                System.arraycopy(m[r], 0, v, (r - from) * cols, cols);
            }
            return new MatrixSpec(v, to - from, cols);
        }
    }

    /**
     * cuDNN's LSTM: per gate {@code g} (input, forget, cell, output) the row-major matrices
     * {@code input[g] [hidden][inputSize]} and {@code recurrent[g] [hidden][hidden]}, and {@code bias[g]
     * [hidden]} for the input side (the recurrent side's biases are zero).
     */
    public record LstmSpec(int inputSize, int hidden, float[][] input, float[][] recurrent, float[][] bias) {

        static LstmSpec of(ServingWeights.Lstm l) {
            int h = l.hidden();
            float[][] in = new float[4][];
            float[][] rec = new float[4][];
            float[][] bias = new float[4][];
            for (int g = 0; g < 4; g++) {
                in[g] = transposedGate(l.input(), g, h);
                rec[g] = transposedGate(l.recurrent(), g, h);
                bias[g] = Arrays.copyOfRange(l.bias(), g * h, (g + 1) * h);
            }
            return new LstmSpec(l.input().length, h, in, rec, bias);
        }

        /** Column block {@code g} of {@code m [rows][4h]}, transposed: row-major {@code [h][rows]}. */
        private static float[] transposedGate(float[][] m, int g, int h) {
            float[] t = new float[h * m.length];
            for (int r = 0; r < m.length; r++) {
                for (int j = 0; j < h; j++) {
                    t[j * m.length + r] = m[r][g * h + j];
                }
            }
            return t;
        }
    }

    /** A pre-activation residual block; {@code shortcut} is null for an identity shortcut. */
    public record BlockSpec(AffineSpec bn1, ConvSpec shortcut, ConvSpec conv1, ConvSpec conv2) {
    }

    private final CrmnConfig cfg;
    private final ConvSpec stem;
    private final List<BlockSpec> blocks;
    private final AffineSpec finalBn;
    private final List<MatrixSpec> projections;
    private final LstmSpec lstm;
    private final MatrixSpec outputFromFeatures;
    private final MatrixSpec outputFromMemory;
    private final float[] outputBias;

    private ServingPlan(CrmnConfig cfg, ConvSpec stem, List<BlockSpec> blocks, AffineSpec finalBn,
                        List<MatrixSpec> projections, LstmSpec lstm, MatrixSpec outputFromFeatures,
                        MatrixSpec outputFromMemory, float[] outputBias) {
        this.cfg = cfg;
        this.stem = stem;
        this.blocks = blocks;
        this.finalBn = finalBn;
        this.projections = projections;
        this.lstm = lstm;
        this.outputFromFeatures = outputFromFeatures;
        this.outputFromMemory = outputFromMemory;
        this.outputBias = outputBias;
    }

    /** The plan of {@code sw} (its arrays are shared where the layout is the same, copied where it differs). */
    public static ServingPlan of(ServingWeights sw) {
        CrmnConfig cfg = sw.config();
        int h = cfg.height();
        int w = cfg.width();
        ConvSpec stem = ConvSpec.of(sw.stem(), h, w);
        h = stem.outH();
        w = stem.outW();
        List<BlockSpec> blocks = new ArrayList<>();
        for (ServingWeights.Block b : sw.blocks()) {
            ConvSpec conv1 = ConvSpec.of(b.conv1(), h, w);
            ConvSpec shortcut = b.shortcut() == null ? null : ConvSpec.of(b.shortcut(), h, w);
            ConvSpec conv2 = ConvSpec.of(b.conv2(), conv1.outH(), conv1.outW());
            blocks.add(new BlockSpec(affine(b.bn1()), shortcut, conv1, conv2));
            h = conv2.outH();
            w = conv2.outW();
        }
        List<MatrixSpec> projections = new ArrayList<>();
        for (float[][] p : sw.projections()) {
            projections.add(MatrixSpec.of(p, 0, p.length));
        }
        int features = sw.blocks().get(sw.blocks().size() - 1).conv2().out();
        MatrixSpec fromFeatures = MatrixSpec.of(sw.output(), 0, features);
        MatrixSpec fromMemory = null;
        if (sw.lstm() != null) {
            fromMemory = cfg.fusion() == CrmnConfig.Fusion.SUM ? fromFeatures
                    : MatrixSpec.of(sw.output(), features, sw.output().length);
        }
        return new ServingPlan(cfg, stem, List.copyOf(blocks), affine(sw.finalBn()), List.copyOf(projections),
                sw.lstm() == null ? null : LstmSpec.of(sw.lstm()), fromFeatures, fromMemory, sw.outputBias());
    }

    private static AffineSpec affine(ServingWeights.Affine a) {
        return new AffineSpec(a.scale(), a.shift());
    }

    /**
     * SAME padding in total along one dimension (TensorFlow's and ND4J's rule): enough for
     * {@code ceil(size / stride)} outputs; the top/left gets the smaller half.
     */
    static int samePadding(int size, int kernel, int stride) {
        int out = (size + stride - 1) / stride;
        return Math.max((out - 1) * stride + kernel - size, 0);
    }

    public ConvSpec stem() {
        return stem;
    }

    public List<BlockSpec> blocks() {
        return blocks;
    }

    /**
     * Runs the network on the {@code n} images in {@code ops.input()} and returns the tensor
     * {@code [n, classes, 1, 1]} holding their class probabilities.
     */
    public <T> T forward(PlanOps<T> ops, int n) {
        T x = ops.input();
        T y = ops.tensor("stem", n, stem.out(), stem.outH(), stem.outW());
        convolve(ops, n, x, stem, y, false, false);
        T sequence = lstm == null ? null : ops.tensor("sequence", blocks.size(), n, lstm.inputSize(), 1);
        for (int t = 0; t < blocks.size(); t++) {
            BlockSpec b = blocks.get(t);
            ConvSpec c1 = b.conv1();
            T a = ops.tensor("a", n, c1.in(), c1.inH(), c1.inW());
            ops.affineRelu(y, b.bn1(), a);
            T out = y; // identity shortcut: the block adds its residual to its input, in place
            if (b.shortcut() != null) {
                out = ops.tensor("block", n, b.shortcut().out(), b.shortcut().outH(), b.shortcut().outW());
                convolve(ops, n, a, b.shortcut(), out, false, false);
            }
            T mid = ops.tensor("mid", n, c1.out(), c1.outH(), c1.outW());
            convolve(ops, n, a, c1, mid, true, false);
            convolve(ops, n, mid, b.conv2(), out, false, true);
            y = out;
            if (sequence != null) {
                // memory step t: block t+1's output, mean-pooled over space and projected
                T pooled = ops.tensor("pooled", n, b.conv2().out(), 1, 1);
                ops.spatialMean(y, pooled);
                ops.gemm(pooled, projections.get(t), ops.step(sequence, t), false);
            }
        }
        ConvSpec last = blocks.get(blocks.size() - 1).conv2();
        T a = ops.tensor("a", n, last.out(), last.outH(), last.outW());
        ops.affineRelu(y, finalBn, a);
        T features = ops.tensor("features", n, last.out(), 1, 1);
        ops.spatialMean(a, features);
        T logits = ops.tensor("logits", n, outputBias.length, 1, 1);
        ops.gemm(features, outputFromFeatures, logits, false);
        if (sequence != null) {
            if (cfg.memoryInput() == CrmnConfig.MemoryInput.RELU) {
                ops.relu(sequence);
            }
            T memory = ops.tensor("memory", n, lstm.hidden(), 1, 1);
            ops.lstm(sequence, lstm, memory);
            ops.gemm(memory, outputFromMemory, logits, true);
        }
        ops.addBias(logits, outputBias);
        T probabilities = ops.tensor("probabilities", n, outputBias.length, 1, 1);
        ops.softmax(logits, probabilities);
        return probabilities;
    }

    /** {@code conv} applied to {@code x}, through a zero-bordered copy where its SAME padding is asymmetric. */
    private static <T> void convolve(PlanOps<T> ops, int n, T x, ConvSpec conv, T y, boolean relu, boolean accumulate) {
        if (!conv.symmetric()) {
            T padded = ops.tensor(PADDED, n, conv.in(), conv.inputHeight(), conv.inputWidth());
            ops.pad(x, conv, padded);
            x = padded;
        }
        ops.conv(x, conv, y, relu, accumulate);
    }
}
