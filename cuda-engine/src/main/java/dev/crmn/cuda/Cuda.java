package dev.crmn.cuda;

import static org.bytedeco.cuda.global.cudart.cudaDriverGetVersion;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceCount;
import static org.bytedeco.cuda.global.cudart.cudaGetDeviceProperties;
import static org.bytedeco.cuda.global.cudart.cudaGetErrorString;
import static org.bytedeco.cuda.global.cudart.cudaRuntimeGetVersion;

import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.IntPointer;
import org.bytedeco.javacpp.Loader;

/**
 * Loading the CUDA 13, cuBLAS and cuDNN 9 libraries through JavaCPP, finding the device, and turning their status
 * codes into exceptions that say what failed. The native libraries are the host's (NVIDIA's packages, or the
 * wheels beside PyTorch): JavaCPP's jars carry only the JNI wrappers.
 */
public final class Cuda {

    /** What a {@link CudaEngine} runs on. */
    public record Device(int index, String name, int major, int minor, long memoryBytes, int multiprocessors,
                         int driverVersion, int runtimeVersion, long cudnnVersion, int cublasVersion) {

        /** {@code 13.0}-style version of a CUDA version number such as 13000. */
        static String cudaVersion(int v) {
            return v / 1000 + "." + v % 1000 / 10;
        }

        /** One line for logs and the GPU check. */
        public String describe() {
            return String.format("%s (sm_%d%d, %d SMs, %.1f GiB), driver CUDA %s, runtime %s, cuDNN %d, cuBLAS %d",
                    name, major, minor, multiprocessors, memoryBytes / (1024.0 * 1024 * 1024), cudaVersion(driverVersion),
                    cudaVersion(runtimeVersion), cudnnVersion, cublasVersion);
        }
    }

    /** The CUDA libraries or a device are missing, or a call failed. */
    public static final class CudaException extends RuntimeException {
        public CudaException(String message) {
            super(message);
        }

        public CudaException(String message, Throwable cause) {
            super(message, cause);
        }
    }

    static final String INSTALL_HINT = "the CUDA engine needs the CUDA 13 runtime, cuBLAS 13 and cuDNN 9 libraries "
            + "(libcudart.so.13, libcublas.so.13, libcublasLt.so.13, libcudnn*.so.9) on LD_LIBRARY_PATH: "
            + "NVIDIA's CUDA 13 and cuDNN 9 packages, or the nvidia-cublas, nvidia-cuda-runtime and nvidia-cudnn-cu13 "
            + "Python wheels (README, GPU matrix)";

    private Cuda() {
    }

    /** Devices described so far: what they are does not change while the process runs (hot-swaps open many engines). */
    private static final java.util.concurrent.ConcurrentHashMap<Integer, Device> DEVICES =
            new java.util.concurrent.ConcurrentHashMap<>();

    /**
     * Loads the libraries and describes device {@code index} (once per process).
     *
     * @throws CudaException naming the missing library, or saying that no device is visible
     */
    public static Device device(int index) {
        Device known = DEVICES.get(index);
        if (known != null) {
            return known;
        }
        load();
        try (IntPointer count = new IntPointer(1); IntPointer driver = new IntPointer(1);
             IntPointer runtime = new IntPointer(1); cudaDeviceProp p = new cudaDeviceProp()) {
            int status = cudaGetDeviceCount(count);
            if (status != 0 || count.get() == 0) {
                throw new CudaException("no CUDA device: " + (status != 0 ? errorString(status) : "none visible")
                        + " (a CUDA 13 driver, 580 or newer, is needed)");
            }
            if (index < 0 || index >= count.get()) {
                throw new CudaException("no CUDA device " + index + " (" + count.get() + " visible)");
            }
            check(cudaGetDeviceProperties(p, index), "cudaGetDeviceProperties");
            check(cudaDriverGetVersion(driver), "cudaDriverGetVersion");
            check(cudaRuntimeGetVersion(runtime), "cudaRuntimeGetVersion");
            Device d = new Device(index, p.name().getString(), p.major(), p.minor(), p.totalGlobalMem(),
                    p.multiProcessorCount(), driver.get(), runtime.get(), cudnn.cudnnGetVersion(), cublasVersion());
            DEVICES.put(index, d);
            return d;
        }
    }

    /** Device memory in use on the current device (all processes), in bytes: total minus free. */
    static long deviceMemoryUsed() {
        try (org.bytedeco.javacpp.SizeTPointer free = new org.bytedeco.javacpp.SizeTPointer(1);
             org.bytedeco.javacpp.SizeTPointer total = new org.bytedeco.javacpp.SizeTPointer(1)) {
            check(cudart.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return total.get() - free.get();
        }
    }

    private static int cublasVersion() {
        org.bytedeco.cuda.cublas.cublasContext h = new org.bytedeco.cuda.cublas.cublasContext();
        cublas(cublas.cublasCreate_v2(h), "cublasCreate");
        try (IntPointer v = new IntPointer(1)) {
            cublas(cublas.cublasGetVersion_v2(h, v), "cublasGetVersion");
            return v.get();
        } finally {
            cublas.cublasDestroy_v2(h);
        }
    }

    /** What the engine links, with what each is. */
    static final String[][] LIBRARIES = {
            {"libcuda.so.1", "the NVIDIA driver"}, {"libcudart.so.13", "CUDA 13 runtime"}, {"libcublas.so.13", "cuBLAS 13"},
            {"libcublasLt.so.13", "cuBLASLt 13"}, {"libcudnn.so.9", "cuDNN 9"}};

    /** The first failure to load, repeated to later callers (the JVM would only say "could not initialize"). */
    private static String loadFailure;
    private static boolean loaded;

    /**
     * Loads the JNI wrappers and, through them, the host's CUDA libraries.
     *
     * @throws CudaException if a library cannot be loaded (the message names those not found and how to install
     *                       them; the same message every time)
     */
    static synchronized void load() {
        if (loaded) {
            return;
        }
        if (loadFailure != null) {
            throw new CudaException(loadFailure);
        }
        for (Class<?> c : new Class<?>[]{cudart.class, cublas.class, cudnn.class}) {
            try {
                Loader.load(c);
            } catch (UnsatisfiedLinkError | ExceptionInInitializerError | NoClassDefFoundError e) {
                java.util.List<String> missing = missingLibraries();
                String why = missing.isEmpty() ? "JavaCPP: " + (e.getMessage() == null ? e : e.getMessage())
                        : "not found: " + String.join(", ", missing);
                loadFailure = "cannot load the CUDA libraries (" + why + "): " + INSTALL_HINT;
                throw new CudaException(loadFailure, e);
            }
        }
        loaded = true;
    }

    /**
     * The {@link #LIBRARIES} that are neither in a folder of {@code LD_LIBRARY_PATH} or {@code java.library.path}
     * nor in the dynamic linker's cache ({@code ldconfig -p}).
     */
    static java.util.List<String> missingLibraries() {
        java.util.Set<String> dirs = new java.util.LinkedHashSet<>();
        for (String path : new String[]{System.getenv("LD_LIBRARY_PATH"), System.getProperty("java.library.path")}) {
            if (path != null) {
                dirs.addAll(java.util.Arrays.asList(path.split(":")));
            }
        }
        String cache = "";
        for (String ldconfig : new String[]{"/sbin/ldconfig", "/usr/sbin/ldconfig", "ldconfig"}) {
            try {
                Process p = new ProcessBuilder(ldconfig, "-p").redirectErrorStream(true).start();
                cache = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
                p.waitFor();
                break;
            } catch (java.io.IOException e) {
                // try the next place ldconfig may be
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        java.util.List<String> missing = new java.util.ArrayList<>();
        for (String[] lib : LIBRARIES) {
            boolean found = cache.contains(lib[0] + " ");
            for (String d : dirs) {
                found |= !d.isEmpty() && java.nio.file.Files.exists(java.nio.file.Path.of(d, lib[0]));
            }
            if (!found) {
                missing.add(lib[0] + " (" + lib[1] + ")");
            }
        }
        return missing;
    }

    static String errorString(int status) {
        return cudaGetErrorString(status).getString() + " (" + status + ")";
    }

    /** Throws unless a CUDA runtime call returned success. */
    static void check(int status, String call) {
        if (status != 0) {
            throw new CudaException(call + " failed: " + errorString(status));
        }
    }

    /** Throws unless a cuDNN call returned success. */
    static void cudnn(int status, String call) {
        if (status != cudnn.CUDNN_STATUS_SUCCESS) {
            throw new CudaException(call + " failed: " + cudnn.cudnnGetErrorString(status).getString() + " (" + status + ")");
        }
    }

    /** Throws unless a cuBLAS call returned success. */
    static void cublas(int status, String call) {
        if (status != 0) {
            throw new CudaException(call + " failed: cuBLAS status " + status);
        }
    }

    /** A float pointer at a raw device (or host) address, with no deallocator: a view, freed by its owner. */
    static FloatPointer at(long target) {
        // (a parameter named "address" would be shadowed here by Pointer's own field of that name)
        return new FloatPointer() {
            {
                this.address = target;
            }
        };
    }
}
