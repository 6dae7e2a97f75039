package dev.crmn.jobs.local;

import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A streaming job running on a Flink MiniCluster in this JVM, for the local runner: started asynchronously,
 * ended by {@link #awaitEnd} (a duration, Ctrl-C, or the job ending by itself) and {@link #close()}, which
 * cancels it and waits until it has stopped (its Kafka transactions aborted, its threads gone).
 */
public final class LocalJob implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalJob.class);

    private final StreamExecutionEnvironment env;
    private final JobClient client;
    private final CompletableFuture<Void> stopRequested = new CompletableFuture<>();
    private final Thread shutdownHook;

    private LocalJob(StreamExecutionEnvironment env, JobClient client) {
        this.env = env;
        this.client = client;
        this.shutdownHook = new Thread(() -> {
            stopRequested.complete(null);
            cancelAndWait();
        }, "crmn-local-job-shutdown");
        Runtime.getRuntime().addShutdownHook(shutdownHook);
    }

    /**
     * Builds a job with {@code build} on a local environment with {@code slots} task slots and starts it.
     */
    public static LocalJob start(int slots, Consumer<StreamExecutionEnvironment> build, String name) throws Exception {
        return start(new Configuration(), slots, build, name);
    }

    /**
     * As above, with Flink settings of the MiniCluster (metric reporters, restart strategy, ...); with
     * {@code rest.port} set, the MiniCluster serves Flink's web UI there.
     */
    public static LocalJob start(Configuration flink, int slots, Consumer<StreamExecutionEnvironment> build, String name)
            throws Exception {
        Configuration conf = new Configuration(flink);
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, slots);
        StreamExecutionEnvironment env = conf.contains(org.apache.flink.configuration.RestOptions.PORT)
                ? StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(conf)
                : StreamExecutionEnvironment.createLocalEnvironment(conf);
        build.accept(env);
        return new LocalJob(env, env.executeAsync(name));
    }

    public JobClient client() {
        return client;
    }

    /**
     * Waits until {@code seconds} have passed (0 = no limit), Ctrl-C is pressed, or the job ends by itself.
     *
     * @throws Exception if the job failed
     */
    public void awaitEnd(double seconds) throws Exception {
        CompletableFuture<?> ended = client.getJobExecutionResult();
        CompletableFuture<Object> any = CompletableFuture.anyOf(ended, stopRequested);
        try {
            if (seconds > 0) {
                any.get((long) (seconds * 1000), TimeUnit.MILLISECONDS);
            } else {
                any.get();
            }
        } catch (TimeoutException e) {
            return; // the duration is over
        } catch (ExecutionException e) {
            throw new IllegalStateException("the job failed: " + rootMessage(e), e.getCause());
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        return r.toString();
    }

    private synchronized void cancelAndWait() {
        try {
            JobStatus status = client.getJobStatus().get(10, TimeUnit.SECONDS);
            if (!status.isGloballyTerminalState()) {
                client.cancel().get(60, TimeUnit.SECONDS);
            }
            try {
                client.getJobExecutionResult().get(60, TimeUnit.SECONDS);
            } catch (ExecutionException expected) {
                // cancelled
            }
        } catch (Exception e) {
            LOG.debug("stopping the local job: {}", e.toString());
        }
    }

    /** Cancels the job if it still runs, waits for it to stop, and shuts the MiniCluster down. */
    @Override
    public void close() throws Exception {
        cancelAndWait();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running
        }
        env.close();
    }
}
