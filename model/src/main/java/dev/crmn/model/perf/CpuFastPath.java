package dev.crmn.model.perf;

import java.util.Locale;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Selects the CPU fast path: the oneDNN build of ND4J's native library and DL4J's oneDNN layer helpers.
 *
 * <p>Call {@link #configure()} first thing in every entry point, before any ND4J class is touched: the
 * native variant is chosen when ND4J loads its library and cannot change afterwards. It sets, unless the
 * user already set them:
 * <ul>
 *   <li>{@code org.bytedeco.javacpp.platform.extension=-onednn} on x86-64 (the plain build elsewhere): the
 *       generic oneDNN build, whose kernels are JIT-compiled for the host CPU, so one jar serves AVX2 and
 *       AVX-512 machines (measured as fast as the {@code -onednn-avx512} build);</li>
 *   <li>{@code org.eclipse.deeplearning4j.helpers.disable=false}, so DL4J's layers create their oneDNN
 *       helpers (DL4J's own default is {@code true});</li>
 *   <li>{@code org.bytedeco.javacpp.maxphysicalbytes=0}: JavaCPP otherwise reads {@code /proc/self/statm}
 *       on every native allocation to enforce a physical-memory limit (8 % of batch-1 inference time);
 *       off-heap memory stays bounded by {@code org.bytedeco.javacpp.maxbytes}.</li>
 * </ul>
 * The switch {@code CRMN_FAST_PATH=off} (environment) or {@code -Dcrmn.fastpath=off} keeps the plain path:
 * plain native build, no helpers. {@link #status()} reports what is actually in use.
 */
public final class CpuFastPath {

    public static final String EXTENSION_PROPERTY = "org.bytedeco.javacpp.platform.extension";
    public static final String HELPERS_DISABLE_PROPERTY = "org.eclipse.deeplearning4j.helpers.disable";
    public static final String SWITCH_PROPERTY = "crmn.fastpath";
    public static final String SWITCH_ENV = "CRMN_FAST_PATH";
    /** The generic oneDNN build: oneDNN JIT-compiles its kernels for the host CPU (AVX2, AVX-512, ...). */
    public static final String ONEDNN = "-onednn";
    /** JavaCPP reads /proc/self/statm on every allocation while this limit is set; 0 turns that off. */
    public static final String MAX_PHYSICAL_BYTES_PROPERTY = "org.bytedeco.javacpp.maxphysicalbytes";
    /** OpenBLAS threads once ND4J is loaded ({@link #tuneLoadedBackend()}); default 1. */
    public static final String BLAS_THREADS_PROPERTY = "crmn.blasthreads";

    private static final Logger LOG = LoggerFactory.getLogger(CpuFastPath.class);

    private CpuFastPath() {
    }

    /** Whether the user asked for the plain path. */
    public static boolean disabledByUser() {
        return isOff(System.getProperty(SWITCH_PROPERTY, System.getenv(SWITCH_ENV)));
    }

    /** Whether a switch value means off: {@code off}, {@code false} or {@code 0}. */
    public static boolean isOff(String v) {
        return v != null && (v.equalsIgnoreCase("off") || v.equalsIgnoreCase("false") || v.equals("0"));
    }

    /** Chooses the native variant and helper switch; idempotent; must run before ND4J loads. */
    public static synchronized void configure() {
        if (disabledByUser()) {
            if (System.getProperty(EXTENSION_PROPERTY) == null) {
                System.setProperty(EXTENSION_PROPERTY, "");
            }
            System.setProperty(HELPERS_DISABLE_PROPERTY, "true");
            return;
        }
        if (System.getProperty(EXTENSION_PROPERTY) == null && cpuBackendPresent()) {
            if (isX86()) {
                System.setProperty(EXTENSION_PROPERTY, ONEDNN);
            } else {
                LOG.warn("{} is not x86-64: using ND4J's plain native build (the oneDNN fast path is off)",
                        System.getProperty("os.arch"));
            }
        }
        if (System.getProperty(HELPERS_DISABLE_PROPERTY) == null) {
            System.setProperty(HELPERS_DISABLE_PROPERTY, "false");
        }
        if (System.getProperty(MAX_PHYSICAL_BYTES_PROPERTY) == null) {
            System.setProperty(MAX_PHYSICAL_BYTES_PROPERTY, "0");
        }
    }

    /**
     * Tunes the loaded CPU backend: OpenBLAS gets one thread ({@code -Dcrmn.blasthreads=N} for another
     * number). ND4J gives OpenBLAS as many threads as OpenMP; the networks here only send it small matrix
     * products (LSTM, projections, classifier), and with two threads its idle threads spin and yield against
     * the OpenMP threads running oneDNN's convolutions: at two OpenMP threads one OpenBLAS thread made
     * serving up to 2× and training 1.3–1.9× faster (docs/benchmarks.md). Loads ND4J; idempotent; does
     * nothing when the fast path is off or the backend is not the CPU one. Called by the serving network
     * and the training fast path.
     */
    public static synchronized void tuneLoadedBackend() {
        if (disabledByUser() || !cpuBackendPresent()) {
            return;
        }
        int threads = Integer.getInteger(BLAS_THREADS_PROPERTY, 1);
        var blas = org.nd4j.linalg.factory.Nd4j.factory().blas();
        if (blas.getMaxThreads() != threads) { // also after someone else changed it
            blas.setMaxThreads(threads);
            LOG.debug("OpenBLAS threads: {}", threads);
        }
    }

    /** Whether ND4J's CPU backend is on the classpath (not with the {@code cuda} profile). */
    static boolean cpuBackendPresent() {
        return CpuFastPath.class.getClassLoader().getResource("org/nd4j/linalg/cpu/nativecpu/CpuBackend.class") != null;
    }

    /** Whether this JVM runs on x86-64, the only architecture the oneDNN variant is shipped for. */
    public static boolean isX86() {
        String arch = System.getProperty("os.arch", "");
        return arch.equals("amd64") || arch.equals("x86_64");
    }

    /** What the running JVM actually uses; touches ND4J (loads the native library). */
    public static Status status() {
        boolean onednn = org.nd4j.nativeblas.Nd4jCpu$Environment.getInstance().isUseMKLDNN();
        boolean helpers = !Boolean.parseBoolean(System.getProperty(HELPERS_DISABLE_PROPERTY, "true"));
        String ext = System.getProperty(EXTENSION_PROPERTY, "");
        String backend = org.nd4j.linalg.factory.Nd4j.getExecutioner().getEnvironmentInformation()
                .getProperty("backend", "?");
        int blasThreads = org.nd4j.linalg.factory.Nd4j.factory().blas().getMaxThreads();
        return new Status(backend.toLowerCase(Locale.ROOT), ext, onednn, helpers, blasThreads, bridgeVisibleToDl4j(),
                disabledByUser());
    }

    /**
     * Whether DL4J's class loader finds the {@code Nd4jCpu$Environment} bridge (DL4J looks it up with its own
     * loader: on a Flink cluster the bridge must sit in {@code lib/} beside DL4J, not in the job jar).
     */
    static boolean bridgeVisibleToDl4j() {
        try {
            ClassLoader dl4j = org.deeplearning4j.nn.graph.ComputationGraph.class.getClassLoader();
            Class.forName("org.nd4j.nativeblas.Nd4jCpu$Environment", false, dl4j);
            return true;
        } catch (ClassNotFoundException | LinkageError e) {
            return false;
        }
    }

    /**
     * @param backend        ND4J backend ("cpu", "cuda")
     * @param nativeVariant  JavaCPP platform extension in force ("" = plain build)
     * @param onednnLoaded   the loaded native library has oneDNN enabled
     * @param layerHelpers   DL4J layer helpers are allowed
     * @param blasThreads    OpenBLAS threads now
     * @param helperBridge   DL4J's class loader finds the helper bridge class
     * @param switchedOff    the user asked for the plain path
     */
    public record Status(String backend, String nativeVariant, boolean onednnLoaded, boolean layerHelpers,
                         int blasThreads, boolean helperBridge, boolean switchedOff) {
        /** oneDNN is loaded and DL4J's layers may use it. */
        public boolean fast() {
            return onednnLoaded && layerHelpers && helperBridge;
        }

        /**
         * What keeps this JVM off the fast path although nobody switched it off (empty when all is well, or when
         * {@code CRMN_FAST_PATH=off} was asked for): operators log these in {@code open()}.
         */
        public java.util.List<String> problems() {
            java.util.List<String> p = new java.util.ArrayList<>();
            if (switchedOff || !backend.equals("cpu")) {
                return p;
            }
            if (!onednnLoaded) {
                p.add("ND4J's native library is the plain build (" + (nativeVariant.isEmpty() ? "no" : nativeVariant)
                        + " variant): CpuFastPath.configure() ran after ND4J loaded, or the -onednn jar is missing");
            }
            if (!layerHelpers) {
                p.add("DL4J's oneDNN layer helpers are disabled (" + HELPERS_DISABLE_PROPERTY + "=true): training is slower");
            }
            if (!helperBridge) {
                p.add("DL4J cannot see the Nd4jCpu$Environment bridge (crmn-model-*-nd4j-bridge.jar belongs in lib/ beside"
                        + " DL4J): training runs without oneDNN helpers");
            }
            return p;
        }

        @Override
        public String toString() {
            return "backend=" + backend + " native=" + (nativeVariant.isEmpty() ? "plain" : nativeVariant)
                    + " onednn=" + onednnLoaded + " layerHelpers=" + layerHelpers + " bridge=" + helperBridge
                    + " blasThreads=" + blasThreads + (switchedOff ? " (fast path switched off)" : "");
        }
    }
}
