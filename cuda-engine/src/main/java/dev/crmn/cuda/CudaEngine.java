package dev.crmn.cuda;

import static dev.crmn.cuda.Cuda.at;
import static dev.crmn.cuda.Cuda.check;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.infer.ServingWeights;
import dev.crmn.model.infer.plan.ServingPlan;
import java.util.HashMap;
import java.util.HashSet;
import java.util.Map;
import java.util.Set;
import org.bytedeco.cuda.cudart.CUgraphExec_st;
import org.bytedeco.cuda.cudart.CUgraph_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;

/**
 * A CRMN (or WRN) on an NVIDIA GPU: the {@link ServingPlan} of its {@link ServingWeights} executed with cuDNN 9
 * and cuBLAS (CUDA 13), normalised NHWC images in, class probabilities out, like the CPU engines. Batches are
 * padded to a few sizes ({@link #bucket}); buffers, descriptors and convolution algorithms are made once per
 * padded size. The input crosses to the device through a page-locked buffer, and the layout change to NCHW
 * happens there. {@link #close()} frees all device memory (a hot-swapped model leaves nothing behind).
 *
 * <p>Not thread-safe: one engine per task thread, like the other engines.
 */
public final class CudaEngine implements AutoCloseable {

    /** Arithmetic of convolutions and matrix products. */
    public enum Precision {
        /** FP32 storage with TF32 tensor cores allowed (the default: what a user serving on Ampere or newer wants). */
        TF32,
        /** Strict FP32 (no tensor cores): for comparing with the CPU; set {@code NVIDIA_TF32_OVERRIDE=0} too. */
        FP32
    }

    private final CrmnConfig cfg;
    private final ServingPlan plan;
    private final Cuda.Device device;
    private final CudnnOps ops;
    private final int pixels;
    private final Precision precision;
    private FloatPointer hostIn;
    private FloatPointer hostOut;
    private long hostCapacity;
    private long staging;
    private long stagingCapacity;
    private boolean closed;

    /** A captured forward pass for one padded batch size, valid while no buffer it uses has moved. */
    private record Graph(CUgraphExec_st exec, int epoch) {
    }

    private final Map<Integer, Graph> graphs = new HashMap<>();
    /** Padded batch sizes that have run once eagerly (everything they need exists: they may be captured). */
    private final Set<Integer> ready = new HashSet<>();
    private boolean useGraphs;
    private String graphsOff;
    private int hostEpoch;

    private CudaEngine(ServingWeights sw, Cuda.Device device, Precision precision, boolean graphs, boolean nhwc) {
        this.cfg = sw.config();
        this.plan = ServingPlan.of(sw);
        this.device = device;
        this.pixels = cfg.height() * cfg.width() * cfg.channels();
        this.useGraphs = graphs;
        this.precision = precision;
        check(cudart.cudaSetDevice(device.index()), "cudaSetDevice");
        this.ops = new CudnnOps(precision == Precision.TF32, device.memoryBytes(),
                nhwc ? CudnnOps.Layout.NHWC : CudnnOps.Layout.NCHW);
    }

    /**
     * An engine for {@code sw} on device {@code index}, in the faster layout for the precision
     * ({@link #defaultNhwc}), replaying each padded batch size's forward pass as a CUDA graph from its second call
     * on.
     *
     * @throws Cuda.CudaException if the CUDA libraries or the device are missing (the message says which)
     */
    public static CudaEngine open(ServingWeights sw, int index, Precision precision) {
        return open(sw, index, precision, true, defaultNhwc(precision));
    }

    /**
     * The faster layout for a precision, as measured on an H200 (docs/benchmarks.md, "GPU"): channels-last with
     * TF32 (tensor-core kernels; 1.08-1.41x), channels-first in strict FP32 (cuDNN's Winograd and FFT
     * convolutions, which it has only for NCHW; 2.9x on crmn-28-10).
     */
    public static boolean defaultNhwc(Precision precision) {
        return precision == Precision.TF32;
    }

    /**
     * {@link #open(ServingWeights, int, Precision)}, with CUDA graphs or without ({@code graphs} false: every call
     * eager), with activations channels-last ({@code nhwc}) or channels-first in device memory.
     */
    public static CudaEngine open(ServingWeights sw, int index, Precision precision, boolean graphs, boolean nhwc) {
        return new CudaEngine(sw, Cuda.device(index), precision, graphs, nhwc);
    }

    /** Whether activations are channels-last on the device. */
    public boolean nhwc() {
        return ops.layout() == CudnnOps.Layout.NHWC;
    }

    /** Whether calls are replayed as CUDA graphs; null, or why graphs were switched off after a failed capture. */
    public String graphsOff() {
        return useGraphs ? null : graphsOff == null ? "not asked for" : graphsOff;
    }

    public Cuda.Device device() {
        return device;
    }

    public Precision precision() {
        return precision;
    }

    public CrmnConfig config() {
        return cfg;
    }

    /**
     * The batch size computed for {@code rows} images: the next power of two up to 64, then the next multiple of
     * 64 (the padding rows are computed and dropped; every operation is per image).
     */
    public static int bucket(int rows) {
        if (rows <= 64) {
            return Integer.highestOneBit(rows) == rows ? rows : Integer.highestOneBit(rows) << 1;
        }
        return (rows + 63) / 64 * 64;
    }

    /**
     * Class probabilities {@code [rows][classes]} for {@code rows} normalised NHWC images in {@code nhwc}
     * ({@code rows × height × width × channels} values).
     *
     * @throws IllegalArgumentException if {@code nhwc} holds another number of values
     * @throws IllegalStateException if the engine is closed
     */
    public float[][] probabilities(float[] nhwc, int rows) {
        if (closed) {
            throw new IllegalStateException("the CUDA engine is closed");
        }
        if (rows <= 0 || nhwc.length != (long) rows * pixels) {
            throw new IllegalArgumentException(nhwc.length + " values are not " + rows + " images of " + cfg.height()
                    + "x" + cfg.width() + "x" + cfg.channels());
        }
        // the calling thread's current device: a job's task thread may not be the thread that opened the engine
        check(cudart.cudaSetDevice(device.index()), "cudaSetDevice");
        int n = bucket(rows);
        ensureHost(n);
        hostIn.position(0).put(nhwc, 0, nhwc.length);
        if (n > rows) {
            hostIn.position(nhwc.length).put(new float[(n - rows) * pixels]); // padding rows: zeros
        }
        hostIn.position(0);
        Graph g = useGraphs && ready.contains(n) ? graph(n) : null;
        if (g != null) {
            check(cudart.cudaGraphLaunch(g.exec(), ops.stream()), "cudaGraphLaunch");
        } else {
            enqueue(n);
            ready.add(n);
        }
        check(cudart.cudaStreamSynchronize(ops.stream()), "cudaStreamSynchronize");
        int classes = cfg.classes();
        float[][] p = new float[rows][classes];
        for (int i = 0; i < rows; i++) {
            hostOut.position((long) i * classes).get(p[i], 0, classes);
        }
        hostOut.position(0);
        return p;
    }

    /** Queues one forward pass of {@code n} images on the stream: input copy, layout change, network, output copy. */
    private void enqueue(int n) {
        CudnnOps.Dev input = ops.tensor("input", n, cfg.channels(), cfg.height(), cfg.width());
        if (nhwc()) { // the host's layout already
            ops.copyAsync(input.ptr(), hostIn, 4L * n * pixels, cudart.cudaMemcpyHostToDevice);
        } else {
            ops.copyAsync(at(staging), hostIn, 4L * n * pixels, cudart.cudaMemcpyHostToDevice);
            ops.nhwcToNchw(staging, input);
        }
        ops.begin(input);
        CudnnOps.Dev out = plan.forward(ops, n);
        ops.copyAsync(hostOut, out.ptr(), 4L * n * out.d1(), cudart.cudaMemcpyDeviceToHost);
    }

    /**
     * The graph of batch size {@code n}, captured now if there is none or the buffers moved since; null (and
     * graphs off from then on, the reason kept) if capturing fails.
     */
    private Graph graph(int n) {
        int epoch = ops.epoch() + hostEpoch;
        Graph g = graphs.get(n);
        if (g != null && g.epoch() == epoch) {
            return g;
        }
        if (g != null) {
            cudart.cudaGraphExecDestroy(g.exec());
            graphs.remove(n);
        }
        check(cudart.cudaStreamBeginCapture(ops.stream(), cudart.cudaStreamCaptureModeRelaxed), "cudaStreamBeginCapture");
        CUgraph_st captured = new CUgraph_st();
        String failure = null;
        try {
            enqueue(n);
        } catch (RuntimeException e) {
            failure = e.getMessage();
        }
        int status = cudart.cudaStreamEndCapture(ops.stream(), captured);
        if (failure == null && status != 0) {
            failure = "cudaStreamEndCapture: " + Cuda.errorString(status);
        }
        CUgraphExec_st exec = new CUgraphExec_st();
        if (failure == null) {
            status = cudart.cudaGraphInstantiate(exec, captured, 0L);
            if (status != 0) {
                failure = "cudaGraphInstantiate: " + Cuda.errorString(status);
            }
        }
        if (!captured.isNull()) {
            cudart.cudaGraphDestroy(captured);
        }
        if (failure != null) {
            cudart.cudaGetLastError(); // a failed capture leaves no error for the next call
            useGraphs = false;
            graphsOff = "capture failed: " + failure;
            return null;
        }
        g = new Graph(exec, epoch);
        graphs.put(n, g);
        return g;
    }

    /** Device memory held for weights, activations and workspace, in bytes. */
    public long deviceBytes() {
        return ops.deviceBytes();
    }

    /** Page-locked host buffers and the device staging buffer for {@code n} images (grown, never shrunk). */
    private void ensureHost(int n) {
        long values = (long) n * pixels;
        if (values > hostCapacity) {
            freeHost();
            hostIn = pinned(values);
            hostOut = pinned((long) n * cfg.classes());
            hostCapacity = values;
            hostEpoch++;
        }
        if (values > stagingCapacity && !nhwc()) {
            if (staging != 0) {
                ops.free(staging); // outgrown (the graphs that used it are captured again: hostEpoch)
            }
            staging = ops.malloc(4 * values);
            stagingCapacity = values;
            hostEpoch++;
        }
    }

    private static FloatPointer pinned(long values) {
        PointerPointer<Pointer> p = new PointerPointer<>(1);
        check(cudart.cudaMallocHost(p, 4 * values), "cudaMallocHost");
        FloatPointer f = new FloatPointer(p.get(0));
        f.capacity(values);
        return f;
    }

    private void freeHost() {
        if (hostIn != null) {
            cudart.cudaFreeHost(at(hostIn.address()));
            cudart.cudaFreeHost(at(hostOut.address()));
            hostIn = null;
            hostOut = null;
            hostCapacity = 0;
        }
    }

    /** Frees every device and page-locked buffer; the engine cannot be used afterwards. Idempotent. */
    @Override
    public void close() {
        if (!closed) {
            closed = true;
            cudart.cudaSetDevice(device.index());
            graphs.values().forEach(g -> cudart.cudaGraphExecDestroy(g.exec()));
            graphs.clear();
            freeHost();
            ops.close();
        }
    }
}
