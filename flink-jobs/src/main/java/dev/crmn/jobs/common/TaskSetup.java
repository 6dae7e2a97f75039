package dev.crmn.jobs.common;

import dev.crmn.model.perf.CpuFastPath;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * What every operator that runs a network does first in {@code open()}, on its task thread: select the CPU fast
 * path before ND4J loads in this JVM (a TaskManager's first ND4J use may be this operator), give this thread
 * its share of OpenMP threads (the thread rule: one per slot when slots = cores; OpenMP's thread count is per
 * calling thread, so this holds inside a MiniCluster too, where all slots share one process), and log what is
 * in use, warning about anything that keeps the JVM off the fast path.
 */
public final class TaskSetup {

    private static final Logger LOG = LoggerFactory.getLogger(TaskSetup.class);

    private TaskSetup() {
    }

    /**
     * @param threads     OpenMP threads for this thread's network; 0 = cores / parallelism (at least 1)
     * @param parallelism the operator's parallelism
     * @param what        the operator and subtask, for the log
     * @return the fast path's status in this JVM
     */
    public static CpuFastPath.Status prepare(int threads, int parallelism, String what) {
        CpuFastPath.configure();
        int cores = Runtime.getRuntime().availableProcessors();
        int n = threads > 0 ? threads : Math.max(1, cores / Math.max(1, parallelism));
        // ND4J's backend first: NativeOpsHolder reads settings that loading the backend provides, so touching it
        // first in a fresh JVM (a TaskManager whose first ND4J use is this operator) fails
        org.nd4j.linalg.factory.Nd4j.getExecutioner();
        org.nd4j.nativeblas.NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(n);
        CpuFastPath.tuneLoadedBackend();
        CpuFastPath.Status status = CpuFastPath.status();
        LOG.info("{}: {} OpenMP thread(s) on this task thread ({} cores, parallelism {}); {}", what, n, cores,
                parallelism, status);
        for (String problem : status.problems()) {
            LOG.warn("{}: off the fast path: {}", what, problem);
        }
        return status;
    }

    /** OpenMP threads the calling thread's ND4J operations use. */
    public static int ompThreads() {
        return org.nd4j.nativeblas.NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads();
    }

    /**
     * A single daemon thread for an operator's off-task work (loading models, training), with the task's user-code
     * class loader as its context class loader (ND4J's backend discovery and Flink's file systems look there).
     */
    public static java.util.concurrent.ExecutorService worker(String name, ClassLoader userCode) {
        return java.util.concurrent.Executors.newSingleThreadExecutor(r -> {
            Thread t = new Thread(r, name);
            t.setDaemon(true);
            t.setContextClassLoader(userCode);
            return t;
        });
    }
}
