package dev.crmn.model.infer;

import java.util.Locale;
import org.deeplearning4j.nn.conf.CNN2DFormat;

/**
 * How a {@link Classifier} runs its network: which engine, and (for engines with their own thread pool) how many
 * threads.
 *
 * @param engine  {@link Engine#CPU} the fast path ({@link ServingNetwork}: native ND4J operations on oneDNN, NHWC,
 *                batch norm folded); {@link Engine#CUDA} the CUDA 13 engine (cuDNN 9 and cuBLAS on an NVIDIA GPU,
 *                module {@code cuda-engine}, found through {@link EngineProvider}); {@link Engine#ONNXRUNTIME} the same network exported to ONNX and run by
 *                ONNX Runtime's CPU build ({@link OnnxRuntimeNetwork}); {@link Engine#PLAIN} DL4J's default path
 *                ({@code ComputationGraph.output()}, NCHW)
 * @param threads ONNX Runtime's intra-op threads (0: as many as ND4J's OpenMP threads here); ND4J's engines use
 *                ND4J's own setting
 */
public record ClassifierOptions(Engine engine, int threads) {

    /** The names the command-line options take. */
    public static final String NAMES = "cpu, cuda, auto, onnxruntime or plain";

    /** The engines a classifier can run on. */
    public enum Engine {
        CPU, CUDA, ONNXRUNTIME, PLAIN;

        /**
         * The engine named {@code cpu}, {@code cuda}, {@code onnxruntime} or {@code plain} (as the command-line
         * options take it; {@code auto} is resolved by {@link ClassifierOptions#of}).
         */
        public static Engine parse(String name) {
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT).replace("-", ""));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("unknown engine '" + name + "' (" + NAMES + ")");
            }
        }

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }
    }

    public ClassifierOptions {
        if (engine == null || threads < 0) {
            throw new IllegalArgumentException("an engine and threads >= 0 are needed");
        }
    }

    /** The fast path. */
    public static ClassifierOptions fast() {
        return new ClassifierOptions(Engine.CPU, 0);
    }

    /** DL4J's default path: the trained graph in NCHW, batch norm as trained. */
    public static ClassifierOptions plain() {
        return new ClassifierOptions(Engine.PLAIN, 0);
    }

    /** ONNX Runtime (CPU) with {@code threads} intra-op threads (0: as many as ND4J's OpenMP threads). */
    public static ClassifierOptions onnxRuntime(int threads) {
        return new ClassifierOptions(Engine.ONNXRUNTIME, threads);
    }

    /** {@link #fast()}, unless the fast path is switched off ({@code CRMN_FAST_PATH=off}). */
    public static ClassifierOptions defaults() {
        return dev.crmn.model.perf.CpuFastPath.disabledByUser() ? plain() : fast();
    }

    /**
     * {@code engine} by name: {@code cpu} means {@link #defaults()} (so {@code CRMN_FAST_PATH=off} still applies);
     * {@code cuda} the CUDA engine, checked here (the build has it, its libraries load, a device is visible);
     * {@code auto} the CUDA engine where it can run, else {@code cpu}.
     *
     * @throws IllegalArgumentException for an unknown name, or {@code cuda} where it cannot run (saying why)
     */
    public static ClassifierOptions of(String engine, int threads) {
        if (engine.trim().equalsIgnoreCase("auto")) {
            EngineProvider cuda = EngineProvider.find(Engine.CUDA);
            return cuda != null && cuda.unavailable() == null ? new ClassifierOptions(Engine.CUDA, 0) : defaults();
        }
        return switch (Engine.parse(engine)) {
            case CPU -> defaults();
            case CUDA -> {
                EngineProvider cuda = EngineProvider.find(Engine.CUDA);
                String why = cuda == null ? NOT_BUILT : cuda.unavailable();
                if (why != null) {
                    throw new IllegalArgumentException("--engine cuda: " + why);
                }
                yield new ClassifierOptions(Engine.CUDA, 0);
            }
            case ONNXRUNTIME -> onnxRuntime(threads);
            case PLAIN -> plain();
        };
    }

    /**
     * Checks what can be checked of {@code engine} away from the machines that will run it (a job submitted to a
     * cluster): a known name, and for {@code cuda} an engine in this build. Where the libraries and a device are
     * is for {@link #of} to check where the network runs.
     *
     * @throws IllegalArgumentException otherwise
     */
    public static void checkBuilt(String engine) {
        if (!engine.trim().equalsIgnoreCase("auto") && Engine.parse(engine) == Engine.CUDA
                && EngineProvider.find(Engine.CUDA) == null) {
            throw new IllegalArgumentException("--engine cuda: " + NOT_BUILT);
        }
    }

    /** Why {@code cuda} cannot run in a build without the CUDA engine. */
    public static final String NOT_BUILT = "this build has no CUDA engine: build with the cuda13 profile "
            + "(CRMN_MVN_OPTS=-Pcuda13 ./crmn ..., or mvn -Pcuda13 install; README, GPU matrix)";

    /** Whether the input is the serving layout (NHWC) rather than DL4J's trained NCHW graph. */
    public boolean serving() {
        return engine != Engine.PLAIN;
    }

    /** The input layout of this path. */
    public CNN2DFormat layout() {
        return serving() ? CNN2DFormat.NHWC : CNN2DFormat.NCHW;
    }
}
