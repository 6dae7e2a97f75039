package dev.crmn.model.perf;

import java.lang.reflect.Method;
import org.bytedeco.javacpp.Pointer;

/**
 * What ND4J holds outside the Java heap, for metrics, logs and leak tests.
 *
 * <p>{@link #ndArrayBytes()} is libnd4j's own count of host memory held by array buffers (its
 * {@code MemoryCounter}, updated on every allocation and release), exact and independent of the garbage
 * collector; {@link #residentBytes()} is the process's resident set (what the operating system charges,
 * including glibc's caches and the JVM itself).
 */
public final class NativeMemory {

    private static final String CPU_ENVIRONMENT = "org.nd4j.linalg.cpu.nativecpu.bindings.Nd4jCpu$Environment";
    private static final int HOST = 0;

    private NativeMemory() {
    }

    /** Bytes held by ND4J array buffers on the host now, or -1 where the backend does not count them (CUDA). */
    public static long ndArrayBytes() {
        try {
            Class<?> env = Class.forName(CPU_ENVIRONMENT, true, NativeMemory.class.getClassLoader());
            Object instance = env.getMethod("getInstance").invoke(null);
            Method counter = env.getMethod("getGroupCounter", int.class);
            return (Long) counter.invoke(instance, HOST);
        } catch (ReflectiveOperationException | LinkageError e) {
            return -1;
        }
    }

    /** The process's resident set size in bytes. */
    public static long residentBytes() {
        return Pointer.physicalBytes();
    }
}
