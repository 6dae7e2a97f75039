package dev.crmn.model.infer;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtException;
import ai.onnxruntime.OrtSession;
import dev.crmn.model.config.CrmnConfig;
import java.io.IOException;
import java.nio.FloatBuffer;
import java.util.Map;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * An {@link InferenceNetwork} on ONNX Runtime's CPU build: the network {@link ServingWeights} describes, exported
 * without its normalisation ({@link OnnxExport#servingBytes}) and planned once by ONNX Runtime, fed the same
 * normalised NHWC input as {@link ServingNetwork}. Measured faster than the ND4J fast path on small batches
 * (docs/benchmarks.md). Needs {@code com.microsoft.onnxruntime:onnxruntime} on the class path (the launcher has it;
 * a Flink cluster needs its jar in {@code lib/}). Not thread-safe (one per task thread, like the other engines);
 * {@link #close()} frees the session, its weights and its thread pool.
 */
public final class OnnxRuntimeNetwork implements InferenceNetwork {

    private final CrmnConfig cfg;
    private final OrtEnvironment env;
    private final OrtSession session;
    private boolean closed;

    private OnnxRuntimeNetwork(CrmnConfig cfg, OrtEnvironment env, OrtSession session) {
        this.cfg = cfg;
        this.env = env;
        this.session = session;
    }

    /** What every place that needs ONNX Runtime says when it is not on the class path. */
    public static final String MISSING = "engine onnxruntime needs com.microsoft.onnxruntime:onnxruntime on the class"
            + " path (the ./crmn launcher has it; on a Flink cluster copy its jar into lib/)";

    /** Whether ONNX Runtime is on the class path. */
    public static boolean available() {
        try {
            Class.forName("ai.onnxruntime.OrtEnvironment", false, OnnxRuntimeNetwork.class.getClassLoader());
            return true;
        } catch (ClassNotFoundException e) {
            return false;
        }
    }

    /** ONNX Runtime's intra-op threads when none are given: as many as ND4J's OpenMP uses on this thread. */
    public static int defaultThreads() {
        return Math.max(1, org.nd4j.linalg.factory.Nd4j.getEnvironment().maxThreads());
    }

    /** The ONNX Runtime version on the class path. */
    public static String version() {
        return OrtEnvironment.getEnvironment().getVersion();
    }

    /**
     * A session for {@code weights} with {@code threads} intra-op threads (0: {@link #defaultThreads()}).
     *
     * @throws IllegalStateException naming the missing jar when ONNX Runtime is not on the class path
     */
    public static OnnxRuntimeNetwork of(ServingWeights weights, int threads) {
        if (!available()) {
            throw new IllegalStateException(MISSING);
        }
        try {
            byte[] model = OnnxExport.servingBytes(weights);
            OrtEnvironment env = OrtEnvironment.getEnvironment();
            try (OrtSession.SessionOptions o = new OrtSession.SessionOptions()) {
                o.setIntraOpNumThreads(threads > 0 ? threads : defaultThreads());
                o.setInterOpNumThreads(1);
                o.setOptimizationLevel(OrtSession.SessionOptions.OptLevel.ALL_OPT);
                return new OnnxRuntimeNetwork(weights.config(), env, env.createSession(model, o));
            }
        } catch (OrtException | IOException e) {
            throw new IllegalStateException("ONNX Runtime could not load the network: " + e.getMessage(), e);
        }
    }

    @Override
    public float[][] probabilities(INDArray input) {
        if (closed) {
            throw new IllegalStateException("the network is closed");
        }
        InferenceNetwork.requireNhwc(input, cfg);
        boolean direct = input.dataType() == DataType.FLOAT && input.ordering() == 'c' && !input.isView();
        INDArray x = direct ? input : input.castTo(DataType.FLOAT).dup('c');
        float[] data;
        try {
            data = x.data().asFloat();
        } finally {
            if (!direct) {
                x.close();
            }
        }
        try (OnnxTensor t = OnnxTensor.createTensor(env, FloatBuffer.wrap(data), input.shape());
             OrtSession.Result r = session.run(Map.of(OnnxExport.INPUT, t))) {
            return (float[][]) r.get(0).getValue();
        } catch (OrtException e) {
            throw new IllegalStateException("ONNX Runtime failed on a batch of " + input.size(0) + ": " + e.getMessage(), e);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        try {
            session.close();
        } catch (OrtException e) {
            throw new IllegalStateException("closing the ONNX Runtime session failed: " + e.getMessage(), e);
        }
    }
}
