package dev.crmn.cuda;

import static dev.crmn.cuda.Cuda.at;
import static dev.crmn.cuda.Cuda.check;
import static dev.crmn.cuda.Cuda.cublas;
import static dev.crmn.cuda.Cuda.cudnn;
import static org.bytedeco.cuda.global.cudnn.*;

import dev.crmn.model.infer.plan.PlanOps;
import dev.crmn.model.infer.plan.ServingPlan;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnActivationStruct;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnDropoutStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnRNNDataStruct;
import org.bytedeco.cuda.cudnn.cudnnRNNStruct;
import org.bytedeco.cuda.cudnn.cudnnReduceTensorStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;

/**
 * The serving plan's operations as cuDNN and cuBLAS calls on one stream, in FP32 (TF32 tensor cores allowed or
 * not), with image tensors laid out NCHW or NHWC in device memory ({@link Layout}; the plan's shapes are always
 * {@code [n, c, h, w]}, and tensors of one pixel, {@code [n, c, 1, 1]}, are the same in both). Owns every device buffer and descriptor it creates: weights are uploaded on first use,
 * activation buffers and descriptors are made once per shape (so once per padded batch size), the convolution
 * algorithm is chosen once per convolution and batch size by {@code cudnnFindConvolutionForwardAlgorithm}, and
 * one workspace grows to the largest need. {@link #close()} frees it all. Not thread-safe.
 */
final class CudnnOps implements PlanOps<CudnnOps.Dev>, AutoCloseable {

    /** How image tensors lie in device memory. */
    enum Layout {
        /** Channels first: the plan's own order; the input's layout change is one transform on the device. */
        NCHW,
        /** Channels last: what tensor-core convolutions prefer; the input arrives so; filters are reordered (OHWI). */
        NHWC
    }

    /** A dense float buffer on the device of logical shape {@code [d0, d1, d2, d3]} (see {@link Layout}). */
    record Dev(long address, int d0, int d1, int d2, int d3) {
        long count() {
            return (long) d0 * d1 * d2 * d3;
        }

        FloatPointer ptr() {
            return at(address);
        }
    }

    /** cuBLAS's workspace, given to it so that it allocates nothing while a CUDA graph is captured. */
    private static final long CUBLAS_WORKSPACE = 32L << 20;
    /** The batch norm op computes {@code (x - mean) / sqrt(var + eps)}: mean 0 and var {@code 1 - eps} leave the affine map. */
    private static final double BN_EPS = 1e-5;

    private final boolean tf32;
    private final Layout layout;
    /** The largest workspace a convolution algorithm may ask for: a sixteenth of the device's memory, at least 1 GiB. */
    private final long maxWorkspace;
    private final CUstream_st stream = new CUstream_st();
    private final cudnnContext handle = new cudnnContext();
    private final cublasContext blas = new cublasContext();
    private final FloatPointer one = new FloatPointer(1f);
    private final FloatPointer zero = new FloatPointer(0f);
    private final cudnnActivationStruct relu = new cudnnActivationStruct();
    private final cudnnReduceTensorStruct mean = new cudnnReduceTensorStruct();
    private final java.util.Set<Long> allocations = new java.util.LinkedHashSet<>();
    /** Destroys each descriptor made, in {@link #close()}. */
    private final List<Runnable> destroyers = new ArrayList<>();
    private final Map<String, Dev> tensors = new HashMap<>();
    private final Map<String, cudnnTensorStruct> shapes = new HashMap<>();
    private final IdentityHashMap<float[], Long> uploaded = new IdentityHashMap<>();
    private final IdentityHashMap<ServingPlan.ConvSpec, Conv> convs = new IdentityHashMap<>();
    private final Map<Integer, Long> bnConstants = new HashMap<>();
    private final Map<Integer, RnnBatch> rnnBatches = new HashMap<>();
    /** The spatial mean's workspace, per input shape (its descriptor). */
    private final IdentityHashMap<cudnnTensorStruct, Long> reductionWorkspace = new IdentityHashMap<>();
    private Rnn rnn;
    private long workspace;
    private long workspaceBytes;
    private Dev input;
    private int batch;
    /** Incremented whenever a buffer that a captured graph may use moves (the workspace grows). */
    private int epoch;

    /** A convolution algorithm and the workspace it needs. */
    private record Algo(int algo, long workspace) {
    }

    /** A convolution's descriptors and, per batch size, the algorithm found for it. */
    private static final class Conv {
        final cudnnFilterStruct filter = new cudnnFilterStruct();
        final cudnnConvolutionStruct conv = new cudnnConvolutionStruct();
        final Map<Integer, Algo> algos = new HashMap<>();
        boolean fusedUnsupported;
        long weights;
    }

    /** The LSTM's descriptor and weight space (cuDNN's layout, filled once). */
    private record Rnn(cudnnRNNStruct desc, cudnnDropoutStruct dropout, long weightSpace, long weightSpaceBytes) {
    }

    /** The LSTM's per-batch-size data descriptors, buffers and workspace size. */
    private record RnnBatch(cudnnRNNDataStruct x, cudnnRNNDataStruct y, cudnnTensorStruct h, long seqLengths, long out,
                            long workspace) {
    }

    CudnnOps(boolean tf32, long deviceMemory, Layout layout) {
        this.tf32 = tf32;
        this.layout = layout;
        this.maxWorkspace = Math.max(1L << 30, deviceMemory / 16);
        // a blocking stream: the synchronous copies of first use (weights) stay ordered with its work
        check(cudart.cudaStreamCreate(stream), "cudaStreamCreate");
        cudnn(cudnnCreate(handle), "cudnnCreate");
        cudnn(cudnnSetStream(handle, stream), "cudnnSetStream");
        cublas(cublas.cublasCreate_v2(blas), "cublasCreate");
        cublas(cublas.cublasSetStream_v2(blas, stream), "cublasSetStream");
        cublas(cublas.cublasSetWorkspace_v2(blas, at(malloc(CUBLAS_WORKSPACE)), CUBLAS_WORKSPACE), "cublasSetWorkspace");
        cublas(cublas.cublasSetMathMode(blas, tf32 ? cublas.CUBLAS_TF32_TENSOR_OP_MATH : cublas.CUBLAS_PEDANTIC_MATH),
                "cublasSetMathMode");
        cudnn(cudnnCreateActivationDescriptor(relu), "cudnnCreateActivationDescriptor");
        destroyers.add(() -> cudnnDestroyActivationDescriptor(relu));
        cudnn(cudnnSetActivationDescriptor(relu, CUDNN_ACTIVATION_RELU, CUDNN_NOT_PROPAGATE_NAN, 0.0),
                "cudnnSetActivationDescriptor");
        cudnn(cudnnCreateReduceTensorDescriptor(mean), "cudnnCreateReduceTensorDescriptor");
        destroyers.add(() -> cudnnDestroyReduceTensorDescriptor(mean));
        cudnn(cudnnSetReduceTensorDescriptor(mean, CUDNN_REDUCE_TENSOR_AVG, CUDNN_DATA_FLOAT, CUDNN_NOT_PROPAGATE_NAN,
                CUDNN_REDUCE_TENSOR_NO_INDICES, CUDNN_32BIT_INDICES), "cudnnSetReduceTensorDescriptor");
    }

    /** Sets the batch of the next {@link ServingPlan#forward}: {@code input} holds its NCHW images. */
    void begin(Dev input) {
        this.input = input;
        this.batch = input.d0();
    }

    /** The stream every operation is queued on. */
    CUstream_st stream() {
        return stream;
    }

    /** Changes whenever a buffer a captured graph could use has moved: such a graph must be captured again. */
    int epoch() {
        return epoch;
    }

    /** Device memory of {@code bytes}, freed by {@link #close()}. */
    long malloc(long bytes) {
        PointerPointer<Pointer> p = new PointerPointer<>(1);
        check(cudart.cudaMalloc(p, Math.max(bytes, 4)), "cudaMalloc(" + bytes + " bytes)");
        long address = p.get(0).address();
        allocations.add(address);
        return address;
    }

    /** {@code values} copied to the device once (later calls return the same copy). */
    long upload(float[] values) {
        Long a = uploaded.get(values);
        if (a == null) {
            a = malloc(4L * values.length);
            copyIn(a, values);
            uploaded.put(values, a);
        }
        return a;
    }

    private static void copyIn(long device, float[] values) {
        try (FloatPointer host = new FloatPointer(values)) {
            check(cudart.cudaMemcpy(at(device), host, 4L * values.length, cudart.cudaMemcpyHostToDevice), "cudaMemcpy");
        }
    }

    /** Frees device memory {@link #malloc} gave. */
    void free(long address) {
        check(cudart.cudaFree(at(address)), "cudaFree");
        allocations.remove(address);
    }

    private void ensureWorkspace(long bytes) {
        if (bytes > workspaceBytes) {
            if (workspace != 0) {
                free(workspace);
            }
            workspace = malloc(bytes);
            workspaceBytes = bytes;
            epoch++;
        }
    }

    Layout layout() {
        return layout;
    }

    /** The descriptor of a dense tensor of this shape in the layout (one per shape). */
    cudnnTensorStruct desc(int d0, int d1, int d2, int d3) {
        return shapes.computeIfAbsent(d0 + "x" + d1 + "x" + d2 + "x" + d3, k -> {
            cudnnTensorStruct d = newTensorDesc();
            cudnn(cudnnSetTensor4dDescriptor(d, format(d2, d3), CUDNN_DATA_FLOAT, d0, d1, d2, d3),
                    "cudnnSetTensor4dDescriptor " + k);
            return d;
        });
    }

    /** cuDNN's format of a tensor with {@code h × w} pixels (one-pixel tensors are described NCHW in both layouts). */
    private int format(int h, int w) {
        return layout == Layout.NHWC && h * w > 1 ? CUDNN_TENSOR_NHWC : CUDNN_TENSOR_NCHW;
    }

    private cudnnTensorStruct desc(Dev t) {
        return desc(t.d0(), t.d1(), t.d2(), t.d3());
    }

    private cudnnTensorStruct newTensorDesc() {
        cudnnTensorStruct d = new cudnnTensorStruct();
        cudnn(cudnnCreateTensorDescriptor(d), "cudnnCreateTensorDescriptor");
        destroyers.add(() -> cudnnDestroyTensorDescriptor(d));
        return d;
    }

    /** The same shape as {@code desc(n, c, h, w)}, laid out NHWC: the engine's input as the host sends it. */
    cudnnTensorStruct nhwcDesc(int n, int c, int h, int w) {
        return shapes.computeIfAbsent("nhwc:" + n + "x" + c + "x" + h + "x" + w, k -> {
            cudnnTensorStruct d = newTensorDesc();
            cudnn(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, n, c, h, w), "cudnnSetTensor4dDescriptor");
            return d;
        });
    }

    /** Queues a copy of {@code bytes} on the stream. */
    void copyAsync(Pointer to, Pointer from, long bytes, int kind) {
        check(cudart.cudaMemcpyAsync(to, from, bytes, kind, stream), "cudaMemcpyAsync");
    }

    /** {@code out (NCHW) = in (NHWC)}: the layout change of the input. */
    void nhwcToNchw(long in, Dev out) {
        cudnn(cudnnTransformTensor(handle, one, nhwcDesc(out.d0(), out.d1(), out.d2(), out.d3()), at(in), zero, desc(out),
                out.ptr()), "cudnnTransformTensor (input NHWC to NCHW)");
    }

    @Override
    public Dev tensor(String role, int d0, int d1, int d2, int d3) {
        return tensors.computeIfAbsent(role + ":" + d0 + "x" + d1 + "x" + d2 + "x" + d3, k -> {
            long bytes = 4L * d0 * d1 * d2 * d3;
            long a = malloc(bytes);
            check(cudart.cudaMemset(at(a), 0, bytes), "cudaMemset"); // padded borders stay zero; padding rows finite
            return new Dev(a, d0, d1, d2, d3);
        });
    }

    @Override
    public Dev input() {
        return input;
    }

    @Override
    public Dev step(Dev sequence, int t) {
        return new Dev(sequence.address() + 4L * t * sequence.d1() * sequence.d2(), sequence.d1(), sequence.d2(), 1, 1);
    }

    @Override
    public void pad(Dev x, ServingPlan.ConvSpec conv, Dev padded) {
        int c = x.d1();
        int width = padded.d3();
        int plane = padded.d2() * width;
        cudnnTensorStruct interior = shapes.computeIfAbsent("interior:" + x.d0() + "x" + c + "x" + x.d2() + "x" + x.d3()
                + "in" + padded.d2() + "x" + width, k -> {
                    cudnnTensorStruct d = newTensorDesc();
                    // the padded buffer's strides over the interior's shape
                    int[] strides = layout == Layout.NHWC ? new int[]{c * plane, 1, width * c, c}
                            : new int[]{c * plane, plane, width, 1};
                    cudnn(cudnnSetTensor4dDescriptorEx(d, CUDNN_DATA_FLOAT, x.d0(), c, x.d2(), x.d3(), strides[0],
                            strides[1], strides[2], strides[3]), "cudnnSetTensor4dDescriptorEx " + k);
                    return d;
                });
        long pixel = (long) conv.padTop() * width + conv.padLeft();
        long start = padded.address() + 4L * (layout == Layout.NHWC ? pixel * c : pixel);
        cudnn(cudnnTransformTensor(handle, one, desc(x), x.ptr(), zero, interior, at(start)), "cudnnTransformTensor (pad)");
    }

    private Conv conv(ServingPlan.ConvSpec c) {
        return convs.computeIfAbsent(c, k -> {
            Conv s = new Conv();
            cudnn(cudnnCreateFilterDescriptor(s.filter), "cudnnCreateFilterDescriptor");
            destroyers.add(() -> cudnnDestroyFilterDescriptor(s.filter));
            cudnn(cudnnSetFilter4dDescriptor(s.filter, CUDNN_DATA_FLOAT, layout == Layout.NHWC ? CUDNN_TENSOR_NHWC
                    : CUDNN_TENSOR_NCHW, c.out(), c.in(), c.kernel(), c.kernel()), "cudnnSetFilter4dDescriptor");
            s.weights = layout == Layout.NHWC ? upload(ohwi(c)) : upload(c.weights());
            cudnn(cudnnCreateConvolutionDescriptor(s.conv), "cudnnCreateConvolutionDescriptor");
            destroyers.add(() -> cudnnDestroyConvolutionDescriptor(s.conv));
            cudnn(cudnnSetConvolution2dDescriptor(s.conv, c.pad(), c.pad(), c.stride(), c.stride(), 1, 1,
                    CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT), "cudnnSetConvolution2dDescriptor");
            cudnn(cudnnSetConvolutionMathType(s.conv, tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH),
                    "cudnnSetConvolutionMathType");
            return s;
        });
    }

    /** {@code c}'s OIHW weights reordered OHWI (cuDNN's NHWC filter layout). */
    static float[] ohwi(ServingPlan.ConvSpec c) {
        int k = c.kernel();
        float[] w = c.weights();
        float[] out = new float[w.length];
        for (int o = 0; o < c.out(); o++) {
            for (int i = 0; i < c.in(); i++) {
                for (int y = 0; y < k; y++) {
                    for (int x = 0; x < k; x++) {
                        out[((o * k + y) * k + x) * c.in() + i] = w[((o * c.in() + i) * k + y) * k + x];
                    }
                }
            }
        }
        return out;
    }

    /**
     * The fastest algorithm cuDNN measures for this convolution at this batch size (within the workspace cap) and
     * its workspace: found once per batch size.
     */
    private Algo algorithm(Conv s, ServingPlan.ConvSpec c, Dev x, Dev y) {
        Algo found = s.algos.get(batch);
        if (found != null) {
            return found;
        }
        int requested = 10;
        try (cudnnConvolutionFwdAlgoPerf_t perf = new cudnnConvolutionFwdAlgoPerf_t(requested);
             IntPointer count = new IntPointer(1)) {
            // measured first; cuDNN's heuristics where measuring finds nothing usable
            for (boolean measure : new boolean[]{true, false}) {
                int status = measure
                        ? cudnnFindConvolutionForwardAlgorithm(handle, desc(x), s.filter, s.conv, desc(y), requested, count, perf)
                        : cudnnGetConvolutionForwardAlgorithm_v7(handle, desc(x), s.filter, s.conv, desc(y), requested, count, perf);
                if (status != CUDNN_STATUS_SUCCESS) {
                    continue;
                }
                for (int i = 0; i < count.get(); i++) {
                    cudnnConvolutionFwdAlgoPerf_t p = perf.getPointer(i);
                    if (p.status() == CUDNN_STATUS_SUCCESS && p.memory() <= maxWorkspace) {
                        Algo a = new Algo(p.algo(), workspaceSize(s, x, y, p.algo()));
                        s.algos.put(batch, a);
                        return a;
                    }
                }
            }
        }
        throw new Cuda.CudaException("cuDNN found no algorithm for the convolution " + c.out() + "x" + c.in() + "x"
                + c.kernel() + "x" + c.kernel() + " stride " + c.stride() + " on " + x);
    }

    private long workspaceSize(Conv s, Dev x, Dev y, int algo) {
        try (SizeTPointer size = new SizeTPointer(1)) {
            cudnn(cudnnGetConvolutionForwardWorkspaceSize(handle, desc(x), s.filter, s.conv, desc(y), algo, size),
                    "cudnnGetConvolutionForwardWorkspaceSize");
            return size.get();
        }
    }

    @Override
    public void conv(Dev x, ServingPlan.ConvSpec c, Dev y, boolean reluAfter, boolean accumulate) {
        Conv s = conv(c);
        Algo found = algorithm(s, c, x, y);
        int algo = found.algo();
        ensureWorkspace(found.workspace());
        FloatPointer w = at(s.weights);
        if (reluAfter && c.bias() != null && !accumulate && !s.fusedUnsupported) {
            int status = cudnnConvolutionBiasActivationForward(handle, one, desc(x), x.ptr(), s.filter, w, s.conv, algo,
                    at(workspace), workspaceBytes, zero, desc(y), y.ptr(), desc(1, c.out(), 1, 1), at(upload(c.bias())),
                    relu, desc(y), y.ptr());
            if (status / 1000 != CUDNN_STATUS_NOT_SUPPORTED / 1000) { // cuDNN 9: 3000-3999 are "not supported"
                cudnn(status, "cudnnConvolutionBiasActivationForward");
                return;
            }
            s.fusedUnsupported = true; // this algorithm has no fused form: convolution, bias and ReLU apart
        }
        cudnn(cudnnConvolutionForward(handle, one, desc(x), x.ptr(), s.filter, w, s.conv, algo, at(workspace),
                workspaceBytes, accumulate ? one : zero, desc(y), y.ptr()), "cudnnConvolutionForward");
        if (!accumulate && c.bias() != null) {
            addBias(y, c.bias());
        }
        if (reluAfter) {
            relu(y);
        }
    }

    @Override
    public void affineRelu(Dev x, ServingPlan.AffineSpec a, Dev y) {
        int c = x.d1();
        long constants = bnConstants.computeIfAbsent(c, k -> {
            float[] values = new float[2 * c]; // means 0, then variances 1 - eps
            java.util.Arrays.fill(values, c, 2 * c, (float) (1 - BN_EPS));
            long d = malloc(4L * values.length);
            copyIn(d, values);
            return d;
        });
        cudnn(cudnnBatchNormalizationForwardInference(handle, CUDNN_BATCHNORM_SPATIAL, one, zero, desc(x), x.ptr(), desc(y),
                y.ptr(), desc(1, c, 1, 1), at(upload(a.scale())), at(upload(a.shift())), at(constants),
                at(constants + 4L * c), BN_EPS), "cudnnBatchNormalizationForwardInference");
        relu(y);
    }

    @Override
    public void spatialMean(Dev x, Dev out) {
        ensureWorkspace(reductionWorkspace.computeIfAbsent(desc(x), in -> {
            try (SizeTPointer size = new SizeTPointer(1)) {
                cudnn(cudnnGetReductionWorkspaceSize(handle, mean, in, desc(out), size), "cudnnGetReductionWorkspaceSize");
                return size.get();
            }
        }));
        cudnn(cudnnReduceTensor(handle, mean, null, 0, at(workspace), workspaceBytes, one, desc(x), x.ptr(), zero,
                desc(out), out.ptr()), "cudnnReduceTensor (spatial mean)");
    }

    @Override
    public void gemm(Dev a, ServingPlan.MatrixSpec m, Dev out, boolean accumulate) {
        // row-major out[n][cols] = a[n][k] x m[k][cols] is column-major out^T = m^T x a^T
        cublas(cublas.cublasSgemm_v2(blas, cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_N, m.cols(), a.d0(), m.rows(), one,
                at(upload(m.values())), m.cols(), a.ptr(), m.rows(), accumulate ? one : zero, out.ptr(), m.cols()),
                "cublasSgemm");
    }

    @Override
    public void relu(Dev x) {
        cudnn(cudnnActivationForward(handle, relu, one, desc(x), x.ptr(), zero, desc(x), x.ptr()), "cudnnActivationForward");
    }

    @Override
    public void lstm(Dev sequence, ServingPlan.LstmSpec l, Dev h) {
        if (rnn == null) {
            rnn = createRnn(l);
        }
        int n = sequence.d1();
        int steps = sequence.d0();
        RnnBatch b = rnnBatches.computeIfAbsent(n, k -> rnnBatch(l, steps, n));
        ensureWorkspace(b.workspace());
        cudnn(cudnnRNNForward(handle, rnn.desc(), CUDNN_FWD_MODE_INFERENCE, new IntPointer(at(b.seqLengths())), b.x(),
                sequence.ptr(), b.y(), at(b.out()), b.h(), null, h.ptr(), b.h(), null, null, rnn.weightSpaceBytes(),
                at(rnn.weightSpace()), workspaceBytes, at(workspace), 0, null), "cudnnRNNForward");
    }

    /**
     * The LSTM's descriptor and weights. Default math in both precisions: FP32 without TF32 then rests on
     * {@code NVIDIA_TF32_OVERRIDE=0} (the GPU check sets it for its comparison), since not every cuDNN release
     * takes the FMA-only math type for recurrent networks.
     */
    private Rnn createRnn(ServingPlan.LstmSpec l) {
        cudnnDropoutStruct dropout = new cudnnDropoutStruct();
        cudnn(cudnnCreateDropoutDescriptor(dropout), "cudnnCreateDropoutDescriptor");
        destroyers.add(() -> cudnnDestroyDropoutDescriptor(dropout));
        cudnn(cudnnSetDropoutDescriptor(dropout, handle, 0f, null, 0, 0), "cudnnSetDropoutDescriptor");
        cudnnRNNStruct desc = new cudnnRNNStruct();
        cudnn(cudnnCreateRNNDescriptor(desc), "cudnnCreateRNNDescriptor");
        destroyers.add(() -> cudnnDestroyRNNDescriptor(desc));
        cudnn(cudnnSetRNNDescriptor_v8(desc, CUDNN_RNN_ALGO_STANDARD, CUDNN_LSTM, CUDNN_RNN_DOUBLE_BIAS,
                CUDNN_UNIDIRECTIONAL, CUDNN_LINEAR_INPUT, CUDNN_DATA_FLOAT, CUDNN_DATA_FLOAT,
                CUDNN_DEFAULT_MATH, l.inputSize(), l.hidden(), l.hidden(), 1, dropout,
                CUDNN_RNN_PADDED_IO_DISABLED), "cudnnSetRNNDescriptor_v8");
        long bytes;
        try (SizeTPointer size = new SizeTPointer(1)) {
            cudnn(cudnnGetRNNWeightSpaceSize(handle, desc, size), "cudnnGetRNNWeightSpaceSize");
            bytes = size.get();
        }
        long space = malloc(bytes);
        check(cudart.cudaMemset(at(space), 0, bytes), "cudaMemset"); // the recurrent-side biases stay zero
        cudnnTensorStruct mDesc = newTensorDesc();
        cudnnTensorStruct bDesc = newTensorDesc();
        for (int id = 0; id < 8; id++) {
            int gate = id % 4;
            boolean recurrent = id >= 4;
            try (PointerPointer<Pointer> m = new PointerPointer<>(1); PointerPointer<Pointer> bias = new PointerPointer<>(1)) {
                cudnn(cudnnGetRNNWeightParams(handle, desc, 0, bytes, at(space), id, mDesc, m, bDesc, bias),
                        "cudnnGetRNNWeightParams " + id);
                float[] matrix = recurrent ? l.recurrent()[gate] : l.input()[gate];
                int[] dims = dims(mDesc);
                if ((long) dims[0] * dims[1] * dims[2] != matrix.length) {
                    throw new Cuda.CudaException("cuDNN's LSTM matrix " + id + " is " + java.util.Arrays.toString(dims)
                            + ", the plan's has " + matrix.length + " values");
                }
                copyIn(m.get(0).address(), matrix);
                if (!recurrent) {
                    copyIn(bias.get(0).address(), l.bias()[gate]);
                }
            }
        }
        return new Rnn(desc, dropout, space, bytes);
    }

    private static int[] dims(cudnnTensorStruct d) {
        try (IntPointer type = new IntPointer(1); IntPointer nb = new IntPointer(1); IntPointer dims = new IntPointer(3);
             IntPointer strides = new IntPointer(3)) {
            cudnn(cudnnGetTensorNdDescriptor(d, 3, type, nb, dims, strides), "cudnnGetTensorNdDescriptor");
            return new int[]{dims.get(0), dims.get(1), dims.get(2)};
        }
    }

    private RnnBatch rnnBatch(ServingPlan.LstmSpec l, int steps, int n) {
        int[] lengths = new int[n];
        java.util.Arrays.fill(lengths, steps);
        cudnnRNNDataStruct x = rnnData(steps, n, l.inputSize(), lengths);
        cudnnRNNDataStruct y = rnnData(steps, n, l.hidden(), lengths);
        cudnnTensorStruct h = newTensorDesc();
        try (IntPointer dims = new IntPointer(1, n, l.hidden()); IntPointer strides = new IntPointer(n * l.hidden(), l.hidden(), 1)) {
            cudnn(cudnnSetTensorNdDescriptor(h, CUDNN_DATA_FLOAT, 3, dims, strides), "cudnnSetTensorNdDescriptor");
        }
        long seq = malloc(4L * n);
        try (IntPointer host = new IntPointer(lengths)) {
            check(cudart.cudaMemcpy(at(seq), host, 4L * n, cudart.cudaMemcpyHostToDevice), "cudaMemcpy");
        }
        long work;
        try (SizeTPointer size = new SizeTPointer(1); SizeTPointer reserve = new SizeTPointer(1)) {
            cudnn(cudnnGetRNNTempSpaceSizes(handle, rnn.desc(), CUDNN_FWD_MODE_INFERENCE, x, size, reserve),
                    "cudnnGetRNNTempSpaceSizes");
            work = size.get();
        }
        return new RnnBatch(x, y, h, seq, malloc(4L * steps * n * l.hidden()), work);
    }

    private cudnnRNNDataStruct rnnData(int steps, int n, int size, int[] lengths) {
        cudnnRNNDataStruct d = new cudnnRNNDataStruct();
        cudnn(cudnnCreateRNNDataDescriptor(d), "cudnnCreateRNNDataDescriptor");
        destroyers.add(() -> cudnnDestroyRNNDataDescriptor(d));
        cudnn(cudnnSetRNNDataDescriptor(d, CUDNN_DATA_FLOAT, CUDNN_RNN_DATA_LAYOUT_SEQ_MAJOR_PACKED, steps, n, size,
                lengths, null), "cudnnSetRNNDataDescriptor");
        return d;
    }

    @Override
    public void addBias(Dev x, float[] bias) {
        cudnn(cudnnAddTensor(handle, one, desc(1, x.d1(), 1, 1), at(upload(bias)), one, desc(x), x.ptr()), "cudnnAddTensor");
    }

    @Override
    public void softmax(Dev x, Dev y) {
        cudnn(cudnnSoftmaxForward(handle, CUDNN_SOFTMAX_ACCURATE, CUDNN_SOFTMAX_MODE_INSTANCE, one, desc(x), x.ptr(), zero,
                desc(y), y.ptr()), "cudnnSoftmaxForward");
    }

    /** Device memory this instance holds now (weights, activations, workspace), in bytes. */
    long deviceBytes() {
        long sum = workspaceBytes;
        for (Dev t : tensors.values()) {
            sum += 4 * t.count();
        }
        return sum;
    }

    @Override
    public void close() {
        for (long a : allocations) {
            cudart.cudaFree(at(a));
        }
        allocations.clear();
        destroyers.forEach(Runnable::run);
        destroyers.clear();
        cublas.cublasDestroy_v2(blas);
        cudnnDestroy(handle);
        cudart.cudaStreamDestroy(stream);
        one.close();
        zero.close();
    }
}
