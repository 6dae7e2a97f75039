package dev.crmn.model.infer;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.graph.CrmnGraphBuilder;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * What a trained CRMN (or WRN) computes at inference time, engine-independent: shapes and float arrays, layer by
 * layer, in plain Java. The one place that decides it; the CPU {@link ServingNetwork} and the ONNX exporter
 * ({@code OnnxExport}) both build from it.
 *
 * <p>The network, for normalised input {@code x} ({@code (pixel / 255 - mean) / std} per channel, see the
 * manifest's normalisation):
 * <pre>
 * y = conv(x, stem)
 * for each block t = 1..B:
 *     a = relu(y * bn1.scale + bn1.shift)                 (per channel)
 *     s = shortcut == null ? y : conv(a, shortcut)
 *     y = conv(relu(conv(a, conv1)), conv2) + s           (conv1 carries the folded bn2: bias = its shift)
 *     memory step t (memory only): m_t = mean_hw(y) × projections[t-1]   ([C_t] × [C_t, memoryInput])
 * f = mean_hw(relu(y * finalBn.scale + finalBn.shift))
 * memory only: h = last hidden state of an LSTM over m_1..m_B (after relu when the memory input is RELU);
 *     f = concat(f, h) (CONCAT) or f + h (SUM)
 * probabilities = softmax(f × output + outputBias)
 * </pre>
 *
 * <p>Layouts: convolution weights {@code [out][in][kh][kw]} (OIHW) flattened in that order, SAME padding (the
 * extra row/column of an odd total padding at the bottom/right), square kernels and strides. Matrices are
 * {@code [rows][cols]} with {@code input × matrix}. The LSTM's four gate blocks (columns of {@code input} and
 * {@code recurrent}, entries of {@code bias}) are in the order <b>(input, forget, cell, output)</b>, ND4J
 * {@code lstmLayer}'s; DL4J stores (cell, forget, output, input), ONNX wants (input, output, forget, cell):
 * {@link #gateBlocks} reorders. Gates sigmoid, cell and output tanh, no peepholes, zero initial state.
 */
public record ServingWeights(CrmnConfig config, Conv stem, List<Block> blocks, Affine finalBn,
                             List<float[][]> projections, Lstm lstm, float[][] output, float[] outputBias) {

    /** DL4J's gate block order (cell, forget, output, input) → this description's (input, forget, cell, output). */
    static final int[] DL4J_GATES = {3, 1, 0, 2};

    /** A convolution: OIHW weights flattened, optional bias, SAME padding. */
    public record Conv(float[] weights, int out, int in, int kernel, int stride, float[] bias) {
        public Conv {
            if (weights.length != out * in * kernel * kernel || (bias != null && bias.length != out)) {
                throw new IllegalArgumentException("convolution weights do not match [" + out + "," + in + "," + kernel + ","
                        + kernel + "]");
            }
        }
    }

    /** A batch norm in inference mode as a per-channel affine map {@code x * scale + shift}. */
    public record Affine(float[] scale, float[] shift) {
    }

    /** A pre-activation residual block; {@code shortcut} is null for an identity shortcut. */
    public record Block(Affine bn1, Conv shortcut, Conv conv1, Conv conv2) {
    }

    /** The memory LSTM, gate blocks in the order (input, forget, cell, output); {@code hidden} units. */
    public record Lstm(float[][] input, float[][] recurrent, float[] bias, int hidden) {
    }

    /** The serving description of {@code trained} (a training graph of {@code cfg}), copied out of it. */
    public static ServingWeights of(ComputationGraph trained, CrmnConfig cfg) {
        List<Block> blocks = new ArrayList<>();
        for (int i = 1; i <= cfg.totalBlocks(); i++) {
            String p = "b" + i + "_";
            Conv shortcut = trained.getVertex(p + "short") == null ? null : conv(trained, p + "short", null);
            blocks.add(new Block(affine(trained, p + "bn1"), shortcut, conv(trained, p + "conv1", affine(trained, p + "bn2")),
                    conv(trained, p + "conv2", null)));
        }
        List<float[][]> projections = List.of();
        Lstm lstm = null;
        if (cfg.memory()) {
            projections = new ArrayList<>();
            for (int t = 1; t <= blocks.size(); t++) {
                projections.add(matrix(trained.getLayer(CrmnGraphBuilder.memoryStep(t)).getParam("W")));
            }
            Layer memory = trained.getLayer(CrmnGraphBuilder.MEMORY);
            lstm = new Lstm(gateBlocks(matrix(memory.getParam("W")), DL4J_GATES),
                    gateBlocks(matrix(memory.getParam("RW")), DL4J_GATES),
                    gateBlocks(new float[][]{floats(memory.getParam("b"))}, DL4J_GATES)[0], cfg.lstmSize());
        }
        Layer out = trained.getLayer(CrmnGraphBuilder.OUTPUT);
        return new ServingWeights(cfg, conv(trained, "stem", null), List.copyOf(blocks), affine(trained, "final_bn"),
                List.copyOf(projections), lstm, matrix(out.getParam("W")), floats(out.getParam("b")));
    }

    /**
     * A description of {@code cfg}'s architecture with random weights (He-scaled convolutions, unit batch norms,
     * small dense weights): for speed measurements of an engine where a trained checkpoint is not at hand (the
     * shapes are exactly those {@link #of} extracts from a trained graph of {@code cfg}). Reproducible for a seed.
     */
    public static ServingWeights random(CrmnConfig cfg, long seed) {
        java.util.Random rnd = new java.util.Random(seed);
        Conv stem = randomConv(rnd, 16, cfg.channels(), 3, 1, false);
        List<Block> blocks = new ArrayList<>();
        List<float[][]> projections = new ArrayList<>();
        int in = 16;
        for (int stage = 0; stage < 3; stage++) {
            int out = cfg.stageWidth(stage);
            for (int j = 0; j < cfg.blocksPerStage(); j++) {
                int stride = stage > 0 && j == 0 ? 2 : 1;
                Conv shortcut = in != out || stride != 1 ? randomConv(rnd, out, in, 1, stride, false) : null;
                blocks.add(new Block(unitAffine(in), shortcut, randomConv(rnd, out, in, 3, stride, true),
                        randomConv(rnd, out, out, 3, 1, false)));
                if (cfg.memory()) {
                    projections.add(randomMatrix(rnd, out, cfg.memoryInputSize()));
                }
                in = out;
            }
        }
        Lstm lstm = null;
        int features = cfg.stageWidth(2);
        if (cfg.memory()) {
            int h = cfg.lstmSize();
            lstm = new Lstm(randomMatrix(rnd, cfg.memoryInputSize(), 4 * h), randomMatrix(rnd, h, 4 * h), new float[4 * h], h);
            features = cfg.fusion() == CrmnConfig.Fusion.CONCAT ? features + h : features;
        }
        return new ServingWeights(cfg, stem, List.copyOf(blocks), unitAffine(in), List.copyOf(projections), lstm,
                randomMatrix(rnd, features, cfg.classes()), new float[cfg.classes()]);
    }

    private static Conv randomConv(java.util.Random rnd, int out, int in, int k, int stride, boolean bias) {
        float[] w = new float[out * in * k * k];
        double scale = Math.sqrt(2.0 / (in * k * k));
        for (int i = 0; i < w.length; i++) {
            w[i] = (float) (rnd.nextGaussian() * scale);
        }
        return new Conv(w, out, in, k, stride, bias ? new float[out] : null);
    }

    private static float[][] randomMatrix(java.util.Random rnd, int rows, int cols) {
        float[][] m = new float[rows][cols];
        double scale = Math.sqrt(1.0 / rows);
        for (float[] row : m) {
            for (int c = 0; c < cols; c++) {
                row[c] = (float) (rnd.nextGaussian() * scale);
            }
        }
        return m;
    }

    private static Affine unitAffine(int channels) {
        float[] ones = new float[channels];
        Arrays.fill(ones, 1f);
        return new Affine(ones, new float[channels]);
    }

    /**
     * The columns of {@code m}, four equal gate blocks, reordered: block {@code k} of the result is block
     * {@code order[k]} of {@code m}.
     */
    public static float[][] gateBlocks(float[][] m, int[] order) {
        int h = m[0].length / 4;
        float[][] out = new float[m.length][m[0].length];
        for (int r = 0; r < m.length; r++) {
            for (int k = 0; k < 4; k++) {
                System.arraycopy(m[r], order[k] * h, out[r], k * h, h);
            }
        }
        return out;
    }

    /** The inference-mode batch norm {@code name} as per-channel {scale, shift}. */
    private static Affine affine(ComputationGraph trained, String name) {
        Layer l = trained.getLayer(name);
        BatchNormalization conf = (BatchNormalization) l.conf().getLayer();
        float[] mean = floats(l.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN));
        float[] gamma = floats(l.getParam(BatchNormalizationParamInitializer.GAMMA));
        float[] beta = floats(l.getParam(BatchNormalizationParamInitializer.BETA));
        float[] std = floats(l.getParam(conf.isUseLogStd() ? BatchNormalizationParamInitializer.GLOBAL_LOG_STD
                : BatchNormalizationParamInitializer.GLOBAL_VAR));
        float[] scale = new float[mean.length];
        float[] shift = new float[mean.length];
        for (int c = 0; c < mean.length; c++) {
            double s = conf.isUseLogStd() ? Math.pow(10, std[c]) : Math.sqrt(std[c] + conf.getEps());
            scale[c] = (float) (gamma[c] / s);
            shift[c] = beta[c] - mean[c] * scale[c];
        }
        return new Affine(scale, shift);
    }

    /**
     * The convolution {@code name}; with {@code fold} (the batch norm that follows it), folded in:
     * {@code W' = W * scale} per output channel, bias {@code shift}.
     */
    private static Conv conv(ComputationGraph trained, String name, Affine fold) {
        INDArray param = trained.getLayer(name).getParam("W"); // [out, in, kh, kw]
        int out = (int) param.size(0);
        int in = (int) param.size(1);
        int k = (int) param.size(2);
        float[] w = floats(param);
        if (fold != null) {
            int per = w.length / out;
            for (int o = 0; o < out; o++) {
                for (int i = 0; i < per; i++) {
                    w[o * per + i] *= fold.scale()[o];
                }
            }
        }
        int stride = ((ConvolutionLayer) trained.getLayer(name).conf().getLayer()).getStride()[0];
        return new Conv(w, out, in, k, stride, fold == null ? null : fold.shift().clone());
    }

    /**
     * The values of a parameter (a view into the graph's parameter vector) in c order, through a copy that is
     * freed at once ({@code toFloatVector()} on a view leaves its copy to the garbage collector).
     */
    static float[] floats(INDArray param) {
        try (INDArray copy = param.dup('c')) {
            return copy.data().asFloat();
        }
    }

    /** A parameter matrix {@code [rows, cols]} as Java arrays. */
    static float[][] matrix(INDArray param) {
        int cols = (int) param.size(1);
        float[] flat = floats(param);
        float[][] m = new float[(int) param.size(0)][];
        for (int r = 0; r < m.length; r++) {
            m[r] = Arrays.copyOfRange(flat, r * cols, (r + 1) * cols);
        }
        return m;
    }
}
