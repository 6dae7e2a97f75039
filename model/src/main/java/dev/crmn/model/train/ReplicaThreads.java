package dev.crmn.model.train;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.nativeblas.NativeOpsHolder;

/**
 * The threads on which the replicas of data-parallel steps ({@link DataParallel}) compute their gradients, one per
 * replica besides the trained network, each with the OpenMP thread count and context class loader of the thread that
 * started them. They can outlive a fine-tuning run: a learner that restarts its run (a version published by someone
 * else, a rollback) passes the same threads to the next one ({@link FineTuning#start(dev.crmn.model.checkpoint.Manifest,
 * org.deeplearning4j.nn.graph.ComputationGraph, dev.crmn.model.data.ImageSet, FineTuneSettings, ReplicaThreads)}),
 * because every new thread takes memory of its own from the C allocator (a glibc arena) and keeps it after the thread
 * ends. Measured on crmn-demo, 60 runs of 5 steps at batch 64 in one JVM, resident set: 1.3-1.9 GB with new replica
 * threads for each run (2.5-3.3 GB before their ND4J workspaces were freed at the end of a run), 0.9-1.2 GB with the
 * same threads throughout, 0.6-0.8 GB with one network, 0.6 GB with new threads and {@code MALLOC_ARENA_MAX=2}.
 * {@link #close()} frees the threads' ND4J workspaces and stops them.
 */
public final class ReplicaThreads implements AutoCloseable {

    private final List<ExecutorService> workers = new ArrayList<>();

    private ReplicaThreads() {
    }

    /** {@code count} threads (the replicas beside the trained network), set up like the calling thread. */
    public static ReplicaThreads start(int count) {
        if (count < 1) {
            throw new IllegalArgumentException("replica threads: at least 1, got " + count);
        }
        Nd4j.getExecutioner(); // the backend first: NativeOpsHolder reads settings that loading it provides
        int threads = Math.max(1, NativeOpsHolder.getInstance().getDeviceNativeOps().ompGetMaxThreads());
        ClassLoader loader = Thread.currentThread().getContextClassLoader();
        ReplicaThreads t = new ReplicaThreads();
        try {
            for (int i = 1; i <= count; i++) {
                int n = i;
                ExecutorService worker = Executors.newSingleThreadExecutor(r -> {
                    Thread th = new Thread(r, "crmn-train-replica-" + n);
                    th.setDaemon(true);
                    th.setContextClassLoader(loader); // ND4J's backend discovery looks there (a Flink task's user code)
                    return th;
                });
                t.workers.add(worker);
                await(worker.submit(() -> {
                    NativeOpsHolder.getInstance().getDeviceNativeOps().setOmpNumThreads(threads);
                    return 0d;
                }));
            }
            return t;
        } catch (RuntimeException | Error e) {
            t.close();
            throw e;
        }
    }

    /** How many threads (replicas besides the trained network). */
    public int size() {
        return workers.size();
    }

    ExecutorService worker(int i) {
        if (workers.isEmpty()) {
            throw new IllegalStateException("the replica threads are closed");
        }
        return workers.get(i);
    }

    /** The value of {@code f}, waiting without being interrupted (a training step takes well under a second). */
    static <T> T await(Future<T> f) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    return f.get();
                } catch (InterruptedException e) {
                    interrupted = true;
                } catch (ExecutionException e) {
                    Throwable c = e.getCause();
                    if (c instanceof RuntimeException r) {
                        throw r;
                    }
                    if (c instanceof Error err) {
                        throw err;
                    }
                    throw new IllegalStateException("a training replica failed", c);
                }
            }
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** Frees each thread's ND4J workspaces (activations and working memory of the replicas it ran), then stops it. */
    @Override
    public void close() {
        for (ExecutorService w : workers) {
            try {
                Future<Double> freed = w.submit(() -> {
                    Nd4j.getWorkspaceManager().destroyAllWorkspacesForCurrentThread();
                    return 0d;
                });
                w.shutdown();
                await(freed);
            } catch (RuntimeException e) {
                w.shutdownNow();
            }
        }
        workers.clear();
    }
}
