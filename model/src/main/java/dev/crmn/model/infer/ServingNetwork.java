package dev.crmn.model.infer;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.util.NativeOps;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
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
 * <p>What it computes is {@link ServingWeights} (the engine-independent description, shared with the ONNX
 * exporter): batch norms after a convolution folded into it, the pre-activation batch norms as per-channel
 * affine maps, the LSTM's gate blocks in {@code lstmLayer}'s order. Weights are copied once.
 *
 * <p><b>Native memory.</b> The network owns its weights and its activation buffers and nothing else: a call
 * allocates no native memory once the buffers for its (padded) batch size exist, the results are copied into
 * Java arrays, and {@link #close()} frees everything, so a job that loads and closes networks (hot-swaps)
 * keeps a flat native footprint without waiting for the garbage collector. Large activation buffers grow to
 * the largest batch seen (the buffer they replace is freed at once) and smaller batches use their leading
 * part; the small per-batch arrays (pooled features, the memory's sequence, logits) are kept per padded
 * batch size, of which there are few ({@link #bucket}).
 *
 * <p>Not thread-safe: activation buffers are per instance. Batches are padded to a few sizes ({@link #bucket})
 * so that oneDNN keeps reusing its compiled kernels.
 */
public final class ServingNetwork implements InferenceNetwork {

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
    /** Every weight array, freed by {@link #close()}. */
    private final List<INDArray> weights;
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
    private boolean closed;

    private ServingNetwork(CrmnConfig cfg, List<INDArray> weights, Conv stem, List<Block> blocks, Affine finalBn,
                           INDArray[] projections, INDArray[] lstm, INDArray outputWeights, INDArray outputBias) {
        this.cfg = cfg;
        this.weights = weights;
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

    /**
     * The serving form of {@code trained} (a training graph of {@code cfg}). {@code trained} is not changed and
     * shares no memory with the result: the caller may free it at once.
     */
    public static ServingNetwork of(ComputationGraph trained, CrmnConfig cfg) {
        return of(ServingWeights.of(trained, cfg));
    }

    /** The serving network for a description of what to compute ({@link ServingWeights}: its weights are copied). */
    public static ServingNetwork of(ServingWeights sw) {
        dev.crmn.model.perf.CpuFastPath.tuneLoadedBackend();
        Weights w = new Weights();
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            List<Block> blocks = new ArrayList<>();
            for (ServingWeights.Block b : sw.blocks()) {
                blocks.add(new Block(w.affine(b.bn1()), b.shortcut() == null ? null : w.conv(b.shortcut()),
                        w.conv(b.conv1()), w.conv(b.conv2())));
            }
            INDArray[] projections = null;
            INDArray[] lstm = null;
            if (sw.lstm() != null) {
                projections = new INDArray[sw.projections().size()];
                for (int t = 0; t < projections.length; t++) {
                    projections[t] = w.own(Nd4j.createFromArray(sw.projections().get(t)));
                }
                lstm = new INDArray[]{w.own(Nd4j.createFromArray(sw.lstm().input())),
                        w.own(Nd4j.createFromArray(sw.lstm().recurrent())), w.own(Nd4j.createFromArray(sw.lstm().bias()))};
            }
            return new ServingNetwork(sw.config(), w.owned, w.conv(sw.stem()), blocks, w.affine(sw.finalBn()),
                    projections, lstm, w.own(Nd4j.createFromArray(sw.output())),
                    w.own(Nd4j.createFromArray(sw.outputBias())));
        } catch (RuntimeException | Error e) {
            w.owned.forEach(INDArray::close);
            throw e;
        }
    }

    /** Creates the network's weight arrays and remembers each, so that they can all be freed. */
    private static final class Weights {
        final List<INDArray> owned = new ArrayList<>();

        INDArray own(INDArray a) {
            owned.add(a);
            return a;
        }

        Affine affine(ServingWeights.Affine a) {
            int c = a.scale().length;
            float[] ones = new float[c];
            Arrays.fill(ones, 1f);
            return new Affine(own(Nd4j.createFromArray(a.scale())), own(Nd4j.createFromArray(a.shift())),
                    own(Nd4j.zeros(DataType.FLOAT, c)), own(Nd4j.createFromArray(ones)));
        }

        Conv conv(ServingWeights.Conv c) {
            // created in its shape: a reshaped array is a view whose close() leaves the buffer to the collector
            INDArray weights = own(Nd4j.create(c.weights(), new long[]{c.out(), c.in(), c.kernel(), c.kernel()}, 'c'));
            return new Conv(weights, c.bias() == null ? null : own(Nd4j.createFromArray(c.bias())), c.kernel(), c.stride());
        }
    }

    /**
     * Class probabilities {@code [n][classes]} for normalised NHWC input {@code [n, height, width, channels]}.
     * The input is neither changed nor kept.
     *
     * @throws IllegalArgumentException if the input has another shape
     * @throws IllegalStateException if the network is closed
     */
    @Override
    public float[][] probabilities(INDArray input) {
        if (closed) {
            throw new IllegalStateException("the serving network is closed");
        }
        InferenceNetwork.requireNhwc(input, cfg);
        int rows = (int) input.size(0);
        long n = bucket(rows);
        INDArray x = input;
        if (n != rows || input.dataType() != DataType.FLOAT || input.ordering() != 'c' || input.isView()) {
            x = buffer("input", n, input.size(1), input.size(2), input.size(3));
            x.get(NDArrayIndex.interval(0, rows), NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.all())
                    .assign(input);
        }
        INDArray logits = forward(x, n);
        int classes = (int) logits.size(1);
        float[] flat = logits.data().asFloat(); // logits is an exact [n, classes] buffer
        float[][] p = new float[rows][];
        for (int i = 0; i < rows; i++) {
            p[i] = Arrays.copyOfRange(flat, i * classes, (i + 1) * classes);
        }
        return p;
    }

    /** The softmax output for {@code n} (a padded batch size) images in {@code x}, in a reused exact buffer. */
    private INDArray forward(INDArray x, long n) {
        INDArray y = buffer("stem", n, x.size(1), x.size(2), stem.out());
        conv(x, stem, y);
        INDArray sequence = cfg.memory() ? exact("sequence", blocks.size(), n, cfg.memoryInputSize()) : null;
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
                INDArray pooled = exact("pooled", n, y.size(3));
                NativeOps.spatialMean(y, pooled);
                matmul(pooled, projections[t], sequence.get(NDArrayIndex.point(t), NDArrayIndex.all(), NDArrayIndex.all()));
            }
        }
        INDArray a = buffer("a", n, y.size(1), y.size(2), y.size(3));
        affineRelu(y, finalBn, a);
        INDArray features = exact("features", n, a.size(3));
        NativeOps.spatialMean(a, features);
        if (sequence != null) {
            if (cfg.memoryInput() == CrmnConfig.MemoryInput.RELU) {
                Transforms.relu(sequence, false);
            }
            INDArray memory = exact("memory", n, cfg.lstmSize());
            lastHidden(sequence, memory);
            if (cfg.fusion() == CrmnConfig.Fusion.SUM) {
                features.addi(memory);
            } else {
                INDArray fused = exact("fused", n, features.size(1) + memory.size(1));
                fused.get(NDArrayIndex.all(), NDArrayIndex.interval(0, features.size(1))).assign(features);
                fused.get(NDArrayIndex.all(), NDArrayIndex.interval(features.size(1), fused.size(1))).assign(memory);
                features = fused;
            }
        }
        INDArray logits = exact("logits", n, outputWeights.size(1));
        matmul(features, outputWeights, logits);
        addBias(logits, outputBias);
        return Transforms.softmax(logits, false);
    }

    /**
     * The batch size actually computed for {@code rows} images: the next power of two up to 8, then the next
     * multiple of 8; the extra rows are padding, computed and dropped (every operation here is per image).
     * oneDNN compiles kernels for each tensor shape and caches a bounded number of them: a stream of
     * micro-batches of every size from 1 to 64 made it recompile continually (docs/benchmarks.md), while
     * these buckets leave 11 shapes up to 64 at the cost of at most 7 padded images above 8.
     */
    public static long bucket(long rows) {
        if (rows <= 8) {
            return Long.highestOneBit(rows) == rows ? rows : Long.highestOneBit(rows) << 1;
        }
        return (rows + 7) / 8 * 8;
    }

    /**
     * A reused activation buffer {@code [n, h, w, c]} for {@code role}: the leading part of one sized for the
     * largest batch seen (contiguous, since the batch is the outermost dimension). A buffer outgrown by a
     * larger batch is freed at once.
     */
    private INDArray buffer(String role, long n, long h, long w, long c) {
        String key = role + ':' + h + 'x' + w + 'x' + c;
        INDArray b = buffers.get(key);
        if (b == null || b.size(0) < n) {
            if (b != null) {
                b.close();
            }
            b = allocate(n, h, w, c);
            buffers.put(key, b);
        }
        return b.size(0) == n ? b : b.get(NDArrayIndex.interval(0, n), NDArrayIndex.all(), NDArrayIndex.all(),
                NDArrayIndex.all());
    }

    /** A reused buffer of exactly this shape for {@code role} (one per padded batch size). */
    private INDArray exact(String role, long... shape) {
        return buffers.computeIfAbsent(role + Arrays.toString(shape), k -> allocate(shape));
    }

    private static INDArray allocate(long... shape) {
        try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
            return Nd4j.create(DataType.FLOAT, shape, 'c'); // zeros: padding rows stay finite
        }
    }

    private static void conv(INDArray x, Conv c, INDArray out) {
        INDArray[] in = c.bias() == null ? new INDArray[]{x, c.weights()} : new INDArray[]{x, c.weights(), c.bias()};
        Nd4j.exec(DynamicCustomOp.builder("conv2d").addInputs(in).addOutputs(out)
                // kernel, stride, padding (computed: SAME), dilation, SAME mode, NHWC, weights OIHW
                .addIntegerArguments(c.kernel(), c.kernel(), c.stride(), c.stride(), 0, 0, 1, 1, 1, 1, 1)
                .build());
    }

    /**
     * {@code out = a × b} written straight into {@code out} (which may be a contiguous view): INDArray's
     * {@code mmuli} computes into a temporary and copies it when the result is a view or not in the order it
     * wants, and leaves that temporary to the garbage collector.
     */
    private static void matmul(INDArray a, INDArray b, INDArray out) {
        Nd4j.exec(DynamicCustomOp.builder("matmul").addInputs(a, b).addOutputs(out).build());
    }

    /**
     * {@code x += bias} per column, as a custom op on arrays this network holds. Not {@code addiRowVector}: ND4J's
     * broadcast ops hand the native call an array of the broadcast dimensions that only the op object refers to,
     * which, outside a workspace, ND4J's garbage-driven deallocator can free while the call still reads it (the
     * SIGSEGV seen in the training batch norm, docs/benchmarks.md step 8); a serving network runs for weeks.
     */
    private static void addBias(INDArray x, INDArray bias) {
        Nd4j.exec(DynamicCustomOp.builder("biasadd").addInputs(x, bias).addOutputs(x).build());
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

    /** The LSTM's last hidden state {@code h [n, lstmSize]} for a time-major sequence {@code [steps, n, features]}. */
    private void lastHidden(INDArray sequence, INDArray h) {
        Nd4j.exec(DynamicCustomOp.builder("lstmLayer")
                .addInputs(sequence, inputWeights, recurrentWeights, lstmBias)
                .addOutputs(h)
                // data format TNS = [time, batch, features], forward; gate sigmoid, cell and output tanh
                .addIntegerArguments(0, 0, 2, 0, 0)
                .addFloatingPointArguments(0.0) // no cell clipping
                // has bias, no sequence lengths, no initial h/c, no peepholes; return only the last h
                .addBooleanArguments(true, false, false, false, false, false, true, false)
                .build());
    }

    /** Frees the weights and activation buffers now; the network cannot be used afterwards. Idempotent. */
    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        buffers.values().forEach(INDArray::close);
        buffers.clear();
        weights.forEach(INDArray::close);
    }
}
