package dev.crmn.jobs.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.Optional;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Consumer;
import org.apache.flink.api.common.JobStatus;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.StateRecoveryOptions;
import org.apache.flink.configuration.TaskManagerOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.core.execution.SavepointFormatType;
import org.apache.flink.util.FileUtils;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A streaming job running on a Flink MiniCluster in this JVM, for the local runner: started asynchronously,
 * ended by {@link #awaitEnd} (a duration, Ctrl-C, or the job ending by itself) and {@link #close()}, which stops
 * it and waits until it has stopped (its threads gone).
 *
 * <p>A job started {@linkplain #startResumable resumable} stops <em>with a savepoint</em> into its savepoint
 * directory (the sinks commit their last transactions, the sources stop at the positions the savepoint holds)
 * and starts again from the newest savepoint there: stopping and starting such a job neither repeats nor loses a
 * record. The resumed job owns that savepoint and deletes it once its first checkpoint completes, so a job that
 * dies without a savepoint is not resumed later from an older one. Restarting from the offsets committed to Kafka
 * instead repeats or loses a record now and then: a job cancelled just as a checkpoint completes may have
 * committed its predictions but not yet its source offsets, or the other way round. Other jobs are cancelled
 * (their open Kafka transactions aborted).
 */
public final class LocalJob implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(LocalJob.class);

    private final StreamExecutionEnvironment env;
    private final JobClient client;
    private final CompletableFuture<Void> stopRequested = new CompletableFuture<>();
    private final Thread shutdownHook;
    private final Path savepoints;
    private final Path resumedFrom;
    private volatile SavepointOwner owner;
    /** The runner ({@code infer}, {@code finetune}) that says on stderr where a stop's savepoint went; null: quiet. */
    private volatile String tool;

    /**
     * What a runner's savepoint belongs to: the Kafka cluster whose offsets it holds (its cluster id, and the
     * bootstrap servers for messages) and the model the job was started for. Written beside the savepoint
     * directory ({@code <dir>.owner.json}) when a stop takes one; a start against another cluster is refused.
     */
    public record SavepointOwner(String kafkaCluster, String bootstrapServers, String model) {
    }

    private LocalJob(StreamExecutionEnvironment env, JobClient client, Path savepoints, Path resumedFrom) {
        this.env = env;
        this.client = client;
        this.savepoints = savepoints;
        this.resumedFrom = resumedFrom;
        this.shutdownHook = new Thread(() -> {
            stopRequested.complete(null);
            stopAndWait();
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
     * {@code rest.port} set, the MiniCluster serves Flink's web UI there, on 127.0.0.1 unless {@code
     * rest.bind-address} names another address.
     */
    public static LocalJob start(Configuration flink, int slots, Consumer<StreamExecutionEnvironment> build, String name)
            throws Exception {
        return launch(new Configuration(flink), slots, build, name, null, null);
    }

    private static LocalJob launch(Configuration conf, int slots, Consumer<StreamExecutionEnvironment> build, String name,
                                   Path savepoints, Path resumedFrom) throws Exception {
        conf.set(TaskManagerOptions.NUM_TASK_SLOTS, slots);
        if (conf.contains(org.apache.flink.configuration.RestOptions.PORT)
                && !conf.contains(org.apache.flink.configuration.RestOptions.BIND_ADDRESS)) {
            // the web UI runs any jar it is sent: this machine only, unless rest.bind-address says otherwise
            conf.set(org.apache.flink.configuration.RestOptions.BIND_ADDRESS, "127.0.0.1");
            conf.set(org.apache.flink.configuration.RestOptions.ADDRESS, "localhost");
        }
        StreamExecutionEnvironment env = conf.contains(org.apache.flink.configuration.RestOptions.PORT)
                ? StreamExecutionEnvironment.createLocalEnvironmentWithWebUI(conf)
                : StreamExecutionEnvironment.createLocalEnvironment(conf);
        build.accept(env);
        return new LocalJob(env, env.executeAsync(name), savepoints, resumedFrom);
    }

    /**
     * Starts a job that stops with a savepoint into {@code savepoints} and, unless {@code fresh}, resumes from the
     * newest savepoint there ({@link #resumedFrom} says which).
     *
     * @throws IOException naming the savepoint and {@code --fresh} when the job cannot start from it
     */
    public static LocalJob startResumable(Configuration flink, int slots, Consumer<StreamExecutionEnvironment> build,
                                          String name, Path savepoints, boolean fresh) throws Exception {
        Configuration conf = new Configuration(flink);
        Path from = fresh ? null : newestSavepoint(savepoints).orElse(null);
        if (from == null) {
            return launch(conf, slots, build, name, savepoints.toAbsolutePath(), null);
        }
        conf.set(StateRecoveryOptions.SAVEPOINT_PATH, from.toUri().toString());
        // the job owns the savepoint it resumed from and deletes it once a checkpoint of its own subsumes it, so a
        // job that dies without a savepoint (kill -9) is never resumed later from that stale one
        conf.set(StateRecoveryOptions.RESTORE_MODE, org.apache.flink.core.execution.RecoveryClaimMode.CLAIM);
        try {
            return launch(conf, slots, build, name, savepoints.toAbsolutePath(), from);
        } catch (Exception e) {
            throw new IOException("cannot resume from " + from + " (" + rootMessage(e) + "); --fresh starts from"
                    + " the offsets committed to Kafka instead", e);
        }
    }

    /**
     * How {@code crmn infer} and {@code crmn finetune} start their job: resumable when the checkpoint directory is
     * local ({@code savepoints} present), saying on stderr, as {@code tool}, what it resumes from.
     */
    public static LocalJob startForRunner(String tool, int slots, Consumer<StreamExecutionEnvironment> build, String name,
                                          Optional<Path> savepoints, boolean fresh, SavepointOwner owner) throws Exception {
        if (savepoints.isEmpty()) {
            return start(slots, build, name);
        }
        Path dir = savepoints.get();
        if (fresh) {
            retire(tool, dir);
        } else {
            checkOwner(tool, dir, owner);
        }
        LocalJob job = startResumable(new Configuration(), slots, build, name, dir, false);
        job.owner = owner;
        job.tool = tool;
        job.resumedFrom().ifPresent(p -> System.err.printf("%s: resuming from %s (where the last stop left off;"
                + " --fresh starts from the offsets committed to Kafka instead)%n", tool, p));
        return job;
    }

    /** The file that names what the savepoints in {@code dir} belong to. */
    static Path ownerFile(Path dir) {
        return dir.toAbsolutePath().resolveSibling(dir.getFileName() + ".owner.json");
    }

    /**
     * {@code --fresh}: moves the savepoints of {@code dir} aside ({@code <dir>.retired/}), so that no later start,
     * after a {@code kill -9} say, resumes from a position this run has moved past.
     */
    static void retire(String tool, Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return;
        }
        Path retired = dir.toAbsolutePath().resolveSibling(dir.getFileName() + ".retired");
        try (var entries = Files.list(dir)) {
            for (Path sp : entries.filter(Files::isDirectory).toList()) {
                Files.createDirectories(retired);
                Path to = retired.resolve(sp.getFileName() + "-" + System.currentTimeMillis());
                Files.move(sp, to);
                System.err.printf("%s: --fresh: the savepoint %s is retired to %s (no later start resumes from it)%n",
                        tool, sp, to);
            }
        }
        Files.deleteIfExists(ownerFile(dir));
    }

    /** Refuses, in one line naming --fresh, a savepoint taken against another Kafka cluster. */
    static void checkOwner(String tool, Path dir, SavepointOwner owner) throws IOException {
        Optional<Path> newest = newestSavepoint(dir);
        Path file = ownerFile(dir);
        if (owner == null || newest.isEmpty() || !Files.isRegularFile(file)) {
            return; // nothing to resume, or a savepoint of an earlier release (no owner recorded)
        }
        com.fasterxml.jackson.databind.JsonNode o = new com.fasterxml.jackson.databind.ObjectMapper().readTree(file.toFile());
        if (!newest.get().getFileName().toString().equals(o.path("savepoint").asText())) {
            return; // the owner file speaks of another savepoint
        }
        String cluster = o.path("kafka_cluster").asText();
        if (!cluster.isEmpty() && !cluster.equals(owner.kafkaCluster())) {
            throw new IOException("the savepoint " + newest.get() + " holds the offsets of Kafka cluster " + cluster + " ("
                    + o.path("bootstrap_servers").asText() + "), and " + owner.bootstrapServers() + " is cluster "
                    + owner.kafkaCluster() + ": --fresh starts from this cluster's committed offsets (and retires it)");
        }
    }

    private void writeOwner(Path kept) {
        SavepointOwner o = owner;
        if (o == null) {
            return;
        }
        try {
            java.util.Map<String, String> doc = new java.util.LinkedHashMap<>();
            doc.put("savepoint", kept.getFileName().toString());
            doc.put("kafka_cluster", o.kafkaCluster());
            doc.put("bootstrap_servers", o.bootstrapServers());
            doc.put("model", o.model());
            Path file = ownerFile(savepoints);
            Path tmp = file.resolveSibling(file.getFileName() + ".tmp");
            new com.fasterxml.jackson.databind.ObjectMapper().writeValue(tmp.toFile(), doc);
            Files.move(tmp, file, java.nio.file.StandardCopyOption.REPLACE_EXISTING, java.nio.file.StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            LOG.warn("could not record what the savepoint {} belongs to ({})", kept, e.toString());
        }
    }

    /** The savepoint this job resumed from, if it did. */
    public Optional<Path> resumedFrom() {
        return Optional.ofNullable(resumedFrom);
    }

    /** The newest complete savepoint (a directory with Flink's {@code _metadata}) in {@code dir}. */
    public static Optional<Path> newestSavepoint(Path dir) throws IOException {
        if (!Files.isDirectory(dir)) {
            return Optional.empty();
        }
        try (var entries = Files.list(dir)) {
            return entries.filter(p -> Files.isRegularFile(p.resolve("_metadata")))
                    .max(Comparator.comparing(LocalJob::modified));
        }
    }

    private static java.nio.file.attribute.FileTime modified(Path p) {
        try {
            return Files.getLastModifiedTime(p.resolve("_metadata"));
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    public JobClient client() {
        return client;
    }

    /**
     * {@code --duration SECONDS} as every local job command takes it: 0 runs until Ctrl-C; a negative or non-numeric
     * value is refused before anything starts.
     */
    public static double checkDuration(double seconds) {
        if (!(seconds >= 0) || Double.isInfinite(seconds)) {
            String given = seconds == Math.rint(seconds) ? String.valueOf((long) seconds) : String.valueOf(seconds);
            throw new IllegalArgumentException("--duration " + given + ": must be 0 (until Ctrl-C) or more seconds");
        }
        return seconds;
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
            throw new IllegalStateException("the job failed: " + rootMessage(e) + resumedFrom().map(p -> " (it resumed"
                    + " from " + p + "; --fresh starts without it)").orElse(""), e.getCause());
        }
    }

    private static String rootMessage(Throwable t) {
        Throwable r = t;
        while (r.getCause() != null && r.getCause() != r) {
            r = r.getCause();
        }
        return r.toString();
    }

    private synchronized void stopAndWait() {
        try {
            JobStatus status = client.getJobStatus().get(10, TimeUnit.SECONDS);
            if (!status.isGloballyTerminalState() && !(savepoints != null && stopWithSavepoint())) {
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

    /**
     * Stops with a savepoint into the savepoint directory and removes the older ones there.
     *
     * @return whether it did (false: the job is still running and must be cancelled)
     */
    private boolean stopWithSavepoint() {
        try {
            Files.createDirectories(savepoints);
            String path = savepointWhenRunning();
            LOG.info("stopped with a savepoint at {}", path);
            Path kept = Path.of(java.net.URI.create(path.startsWith("file:") ? path : "file:" + path));
            writeOwner(kept);
            if (tool != null) { // stderr, not the log: the logging system may already be shutting down (Ctrl-C)
                System.err.printf("%s: stopped with a savepoint at %s (the next start resumes from it)%n", tool, kept);
            }
            try (var entries = Files.list(savepoints)) {
                for (Path old : entries.filter(p -> Files.isDirectory(p) && !p.equals(kept)).toList()) {
                    FileUtils.deleteDirectory(old.toFile()); // only the newest is resumed from
                }
            }
            return true;
        } catch (Exception e) {
            LOG.warn("could not stop with a savepoint in {} ({}); cancelling: the next start resumes from the offsets"
                    + " committed to Kafka", savepoints, rootMessage(e));
            return client.getJobStatus().thenApply(JobStatus::isGloballyTerminalState).getNow(false);
        }
    }

    /**
     * Stops the job with a savepoint; a job stopped while its tasks are still starting (Ctrl-C right after a start)
     * cannot take one yet, so that is tried again until its tasks run, for up to a minute. Cancelling instead would
     * lose more than the stop position: a resumed job owns the savepoint it claimed, and Flink deletes it with a
     * cancelled job, so the next start would go back to the offsets committed to Kafka.
     */
    private String savepointWhenRunning() throws Exception {
        long deadline = System.nanoTime() + TimeUnit.MINUTES.toNanos(1);
        while (true) {
            try {
                return client.stopWithSavepoint(false, savepoints.toUri().toString(), SavepointFormatType.CANONICAL)
                        .get(120, TimeUnit.SECONDS);
            } catch (ExecutionException e) {
                boolean starting = rootMessage(e).contains("Not all required tasks are currently running")
                        && client.getJobStatus().get(10, TimeUnit.SECONDS) == JobStatus.RUNNING;
                if (!starting || System.nanoTime() > deadline) {
                    throw e;
                }
                LOG.info("the job's tasks are still starting; stopping with a savepoint once they run");
                Thread.sleep(200); // polling the tasks' start, with the deadline above
            }
        }
    }

    /** Stops the job if it still runs (with a savepoint when resumable, else cancelled), waits, shuts down. */
    @Override
    public void close() throws Exception {
        stopAndWait();
        try {
            Runtime.getRuntime().removeShutdownHook(shutdownHook);
        } catch (IllegalStateException shuttingDown) {
            // the hook is running
        }
        env.close();
    }
}
