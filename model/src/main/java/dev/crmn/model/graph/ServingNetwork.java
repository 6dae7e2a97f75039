package dev.crmn.model.graph;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.infer.InferenceNetwork;
import dev.crmn.model.util.NativeOps;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * The fast serving form of a trained CRMN (or WRN): the whole network as native ND4J operations on
 * channels-last (NHWC) tensors — {@code conv2d}, {@code batchnorm}, {@code avgpool2d} (oneDNN kernels on the
 * oneDNN build, cuDNN on CUDA), ReLU and add in place, the memory as one {@code lstmLayer} call — with
 * activation buffers reused across calls. It computes what the training graph computes in inference mode
 * (tests check it), without DL4J's per-layer work: DL4J's NHWC convolution layer copies its input into NCHW
 * before calling the oneDNN helper, which then ignores the copy (15 % of the time at batch 64), and its LSTM
 * layer issues about twenty small operations per time step (docs/benchmarks.md).
 *
 * <p>Weights are copied from the trained network once. Each batch norm that follows a convolution
 * ({@code b<i>_bn2} after {@code b<i>_conv1}) is folded into it: {@code W' = W * scale},
 * {@code b' = shift}, with {@code scale = gamma / sqrt(var + eps)} and {@code shift = beta - mean * scale};
 * the pre-activation batch norms follow an addition and run as that per-channel affine map. DL4J stores the
 * LSTM's four gate blocks in the order (cell input, forget, output, input gate); {@code lstmLayer} wants
 * (input, forget, cell input, output).
 *
 * <p>Not thread-safe: activation buffers are per instance. Buffers grow to the largest batch seen; smaller
 * batches use their leading part. Batches are padded to a few sizes ({@link #bucket}) so that oneDNN
 * keeps reusing its compiled kernels.
 */
public final class ServingNetwork implements InferenceNetwork {

    private static final int[] DL4J_TO_ND4J_GATES = {3, 1, 0, 2};

    /** A convolution, OIHW weights, optional bias; SAME padding. */
    private record Conv(INDArray weights, INDArray bias, int kernel, int stride) {
        long out() {
            return weights.size(0);
        }
    }

    /** A batch norm in inference mode as a per-channel affine map {@code x * scale + shift}. */
    private record Affine(INDArray scale, INDArray shift, INDArray zeros, INDArray ones) {
    }

    /** A pre-activation residual block; {@code shortcut} is null for an identity shortcut. */
    private record Block(Affine bn1, Conv shortcut, Conv conv1, Conv conv2) {
    }

    private final CrmnConfig cfg;
    private final Conv stem;
    private final List<Block> blocks;
    private final Affine finalBn;
    private final INDArray[] projections;
    private final INDArray inputWeights;
    private final INDArray recurrentWeights;
    private final INDArray lstmBias;
    private final INDArray outputWeights;
    private final INDArray outputBias;
    private final Map<String, INDArray> buffers = new HashMap<>();

    private ServingNetwork(CrmnConfig cfg, Conv stem, List<Block> blocks, Affine finalBn, INDArray[] projections,
                           INDArray[] lstm, INDArray outputWeights, INDArray outputBias) {
        this.cfg = cfg;
        this.stem = stem;
        this.blocks = blocks;
        this.finalBn = finalBn;
        this.projections = projections;
        this.inputWeights = lstm == null ? null : lstm[0];
        this.recurrentWeights = lstm == null ? null : lstm[1];
        this.lstmBias = lstm == null ? null : lstm[2];
        this.outputWeights = outputWeights;
        this.outputBias = outputBias;
    }

    /** The serving form of {@code trained} (a training graph of {@code cfg}); {@code trained} is not changed. */
    public static ServingNetwork of(ComputationGraph trained, CrmnConfig cfg) {
        dev.crmn.model.perf.CpuFastPath.tuneLoadedBackend();
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            List<Block> blocks = new ArrayList<>();
            for (int i = 1; i <= cfg.totalBlocks(); i++) {
                String p = "b" + i + "_";
                Conv shortcut = trained.getVertex(p + "short") == null ? null : conv(trained, p + "short", null);
                blocks.add(new Block(affine(trained, p + "bn1"), shortcut,
                        conv(trained, p + "conv1", affine(trained, p + "bn2")), conv(trained, p + "conv2", null)));
            }
            INDArray[] projections = null;
            INDArray[] lstm = null;
            if (cfg.memory()) {
                projections = new INDArray[blocks.size()];
                for (int t = 0; t < projections.length; t++) {
                    projections[t] = trained.getLayer(CrmnGraphBuilder.memoryStep(t + 1)).getParam("W").dup('c');
                }
                Layer memory = trained.getLayer(CrmnGraphBuilder.MEMORY);
                lstm = new INDArray[]{gates(memory.getParam("W")), gates(memory.getParam("RW")),
                        gates(memory.getParam("b").reshape(1, -1)).reshape(-1)};
            }
            Layer out = trained.getLayer(CrmnGraphBuilder.OUTPUT);
            return new ServingNetwork(cfg, conv(trained, "stem", null), blocks, affine(trained, "final_bn"),
                    projections, lstm, out.getParam("W").dup('c'), out.getParam("b").dup('c').reshape(1, -1));
        }
    }

    /** The inference-mode batch norm {@code name} as an affine map. */
    private static Affine affine(ComputationGraph trained, String name) {
        Layer l = trained.getLayer(name);
        BatchNormalization conf = (BatchNormalization) l.conf().getLayer();
        INDArray mean = l.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).reshape(-1);
        INDArray std;
        if (conf.isUseLogStd()) {
            std = Transforms.pow(Nd4j.valueArrayOf(mean.shape(), 10.0, mean.dataType()),
                    l.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).reshape(-1), true);
        } else {
            std = Transforms.sqrt(l.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR).reshape(-1)
                    .add(conf.getEps()), true);
        }
        INDArray scale = l.getParam(BatchNormalizationParamInitializer.GAMMA).reshape(-1).div(std);
        INDArray shift = l.getParam(BatchNormalizationParamInitializer.BETA).reshape(-1).sub(mean.mul(scale));
        return new Affine(scale, shift, Nd4j.zeros(scale.dataType(), scale.length()),
                Nd4j.ones(scale.dataType(), scale.length()));
    }

    /** The convolution {@code name}, with the batch norm that follows it ({@code fold}) folded in if given. */
    private static Conv conv(ComputationGraph trained, String name, Affine fold) {
        INDArray w = trained.getLayer(name).getParam("W").dup('c'); // [out, in, kh, kw]
        INDArray bias = null;
        if (fold != null) {
            w.muli(fold.scale().reshape(fold.scale().length(), 1, 1, 1));
            bias = fold.shift().dup();
        }
        int stride = ((ConvolutionLayer) trained.getLayer(name).conf().getLayer()).getStride()[0];
        return new Conv(w, bias, (int) w.size(2), stride);
    }

    /** Reorders the four gate blocks (columns) from DL4J's layout to lstmLayer's, as a fresh c-order array. */
    private static INDArray gates(INDArray dl4j) {
        long h = dl4j.size(1) / 4;
        INDArray out = Nd4j.create(dl4j.dataType(), dl4j.shape(), 'c');
        for (int k = 0; k < 4; k++) {
            int src = DL4J_TO_ND4J_GATES[k];
            out.get(NDArrayIndex.all(), NDArrayIndex.interval(k * h, (k + 1) * h))
                    .assign(dl4j.get(NDArrayIndex.all(), NDArrayIndex.interval(src * h, (src + 1) * h)));
        }
        return out;
    }

    /**
     * Class probabilities {@code [n, classes]} for normalised NHWC input {@code [n, height, width, channels]}.
     *
     * @throws IllegalArgumentException if the input has another shape
     */
    @Override
    public INDArray output(INDArray input) {
        if (input.rank() != 4 || input.size(1) != cfg.height() || input.size(2) != cfg.width()
                || input.size(3) != cfg.channels()) {
            throw new IllegalArgumentException("input " + java.util.Arrays.toString(input.shape()) + " is not NHWC [n, "
                    + cfg.height() + ", " + cfg.width() + ", " + cfg.channels() + "]");
        }
        long rows = input.size(0);
        long n = bucket(rows);
        INDArray x;
        if (n != rows) {
            x = buffer("input", n, input.size(1), input.size(2), input.size(3));
            x.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(input);
        } else {
            x = input.dataType() == DataType.FLOAT && input.ordering() == 'c' && !input.isView()
                    ? input : input.castTo(DataType.FLOAT).dup('c');
        }
        INDArray y = buffer("stem", n, x.size(1), x.size(2), stem.out());
        conv(x, stem, y);
        INDArray sequence = cfg.memory() ? Nd4j.create(DataType.FLOAT, blocks.size(), n, cfg.memoryInputSize()) : null;
        for (int t = 0; t < blocks.size(); t++) {
            Block b = blocks.get(t);
            INDArray in = y;
            INDArray a = buffer("a", n, in.size(1), in.size(2), in.size(3));
            affineRelu(in, b.bn1(), a);
            long h = (in.size(1) + b.conv1().stride() - 1) / b.conv1().stride();
            long w = (in.size(2) + b.conv1().stride() - 1) / b.conv1().stride();
            INDArray shortcut = in;
            if (b.shortcut() != null) {
                shortcut = buffer("short", n, h, w, b.shortcut().out());
                conv(a, b.shortcut(), shortcut);
            }
            INDArray mid = buffer("mid", n, h, w, b.conv1().out());
            conv(a, b.conv1(), mid);
            Transforms.relu(mid, false);
            y = buffer("y" + (t % 2), n, h, w, b.conv2().out());
            conv(mid, b.conv2(), y);
            y.addi(shortcut);
            if (sequence != null) {
                // memory step t: block t+1's output, mean-pooled over space and projected
                INDArray pooled = Nd4j.create(DataType.FLOAT, n, y.size(3));
                NativeOps.spatialMean(y, pooled);
                pooled.mmuli(projections[t], sequence.get(NDArrayIndex.point(t), NDArrayIndex.all(), NDArrayIndex.all()));
            }
        }
        INDArray a = buffer("a", n, y.size(1), y.size(2), y.size(3));
        affineRelu(y, finalBn, a);
        INDArray features = Nd4j.create(DataType.FLOAT, n, a.size(3));
        NativeOps.spatialMean(a, features);
        if (sequence != null) {
            if (cfg.memoryInput() == CrmnConfig.MemoryInput.RELU) {
                Transforms.relu(sequence, false);
            }
            INDArray memory = lastHidden(sequence);
            features = cfg.fusion() == CrmnConfig.Fusion.SUM ? features.addi(memory) : Nd4j.hstack(features, memory);
        }
        INDArray logits = features.mmul(outputWeights).addiRowVector(outputBias);
        INDArray p = Activation.SOFTMAX.getActivationFunction().getActivation(logits, false);
        return n == rows ? p : p.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all()).dup();
    }

    /**
     * The batch size actually computed for {@code rows} images: the next power of two up to 8, then the next
     * multiple of 8; the extra rows are padding, computed and dropped (every operation here is per image).
     * oneDNN compiles kernels for each tensor shape and caches a bounded number of them: a stream of
     * micro-batches of every size from 1 to 64 made it recompile continually (docs/benchmarks.md), while
     * these buckets leave 11 shapes up to 64 at the cost of at most 7 padded images above 8.
     */
    static long bucket(long rows) {
        if (rows <= 8) {
            return Long.highestOneBit(rows) == rows ? rows : Long.highestOneBit(rows) << 1;
        }
        return (rows + 7) / 8 * 8;
    }

    /**
     * A reused activation buffer {@code [n, h, w, c]} for {@code role}: the leading part of one sized for the
     * largest batch seen (contiguous, since the batch is the outermost dimension).
     */
    private INDArray buffer(String role, long n, long h, long w, long c) {
        String key = role + ':' + h + 'x' + w + 'x' + c;
        INDArray b = buffers.get(key);
        if (b == null || b.size(0) < n) {
            try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                b = Nd4j.create(DataType.FLOAT, new long[]{n, h, w, c}, 'c'); // zeros: padding rows stay finite
            }
            buffers.put(key, b);
        }
        return b.size(0) == n ? b : b.get(NDArrayIndex.interval(0, n), NDArrayIndex.all(), NDArrayIndex.all(),
                NDArrayIndex.all());
    }

    private static void conv(INDArray x, Conv c, INDArray out) {
        INDArray[] in = c.bias() == null ? new INDArray[]{x, c.weights()} : new INDArray[]{x, c.weights(), c.bias()};
        Nd4j.exec(DynamicCustomOp.builder("conv2d").addInputs(in).addOutputs(out)
                // kernel, stride, padding (computed: SAME), dilation, SAME mode, NHWC, weights OIHW
                .addIntegerArguments(c.kernel(), c.kernel(), c.stride(), c.stride(), 0, 0, 1, 1, 1, 1, 1)
                .build());
    }

    /** {@code out = relu(x * scale + shift)}, per channel (the batchnorm op with mean 0, variance 1, eps 0). */
    private static void affineRelu(INDArray x, Affine bn, INDArray out) {
        Nd4j.exec(DynamicCustomOp.builder("batchnorm")
                .addInputs(x, bn.zeros(), bn.ones(), bn.scale(), bn.shift()).addOutputs(out)
                .addIntegerArguments(1, 1, 3) // apply scale, apply shift, channel axis (NHWC)
                .addFloatingPointArguments(0.0)
                .build());
        Transforms.relu(out, false);
    }

    /** The LSTM's last hidden state for a time-major sequence {@code [steps, n, features]}. */
    private INDArray lastHidden(INDArray sequence) {
        INDArray h = Nd4j.create(DataType.FLOAT, sequence.size(1), cfg.lstmSize());
        Nd4j.exec(DynamicCustomOp.builder("lstmLayer")
                .addInputs(sequence, inputWeights, recurrentWeights, lstmBias)
                .addOutputs(h)
                // data format TNS = [time, batch, features], forward; gate sigmoid, cell and output tanh
                .addIntegerArguments(0, 0, 2, 0, 0)
                .addFloatingPointArguments(0.0) // no cell clipping
                // has bias, no sequence lengths, no initial h/c, no peepholes; return only the last h
                .addBooleanArguments(true, false, false, false, false, false, true, false)
                .build());
        return h;
    }

    /** Frees the activation buffers now (they are re-created on the next call). */
    @Override
    public void close() {
        buffers.values().forEach(INDArray::close);
        buffers.clear();
    }
}
