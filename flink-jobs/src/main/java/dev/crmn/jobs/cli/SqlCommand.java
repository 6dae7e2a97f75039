package dev.crmn.jobs.cli;

import dev.crmn.jobs.sql.SqlScript;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.configuration.RestartStrategyOptions;
import org.apache.flink.core.execution.JobClient;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.TableResult;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.table.api.config.ExecutionConfigOptions;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crmn sql}: runs a Flink SQL script on a local MiniCluster in this JVM, with the {@code crmn} model provider,
 * Flink's Kafka SQL connector and the {@code raw}/{@code json} formats on the class path; waits for the jobs its
 * {@code INSERT}s start (a bounded source ends its job) or until {@code --duration}, then cancels what still runs.
 */
@Command(name = "sql", mixinStandardHelpOptions = true, description = "Run a Flink SQL script (CREATE MODEL ... WITH ('provider' = 'crmn'), ML_PREDICT,"
        + " Kafka tables) on a local Flink MiniCluster and wait for its INSERT jobs. docs/sql.md has an example.")
public final class SqlCommand implements Callable<Integer> {

    /** What {@code crmn sql} sets unless the script SETs it: room for several full batches per subtask. */
    public static final int DEFAULT_MAX_CONCURRENT_OPERATIONS = 256;

    @Option(names = "--file", required = true, description = "The script: statements separated by ';'."
            + " $${bootstrap-servers} in it becomes --bootstrap-servers.")
    Path file;

    @Option(names = "--bootstrap-servers", defaultValue = "localhost:9092",
            description = "Kafka bootstrap servers, put where the script says $${bootstrap-servers} (default: ${DEFAULT-VALUE}).")
    String bootstrapServers;

    @Option(names = "--duration", defaultValue = "0", description = "Cancel the jobs still running after this many"
            + " seconds (0 = wait until they end, or Ctrl-C).")
    double duration;

    @Option(names = "--parallelism", defaultValue = "0", description = "Default parallelism of the jobs (0 = the cores here).")
    int parallelism;

    @Option(names = "--checkpoint-interval-ms", defaultValue = "2000", description = "Checkpoint interval (a"
            + " transactional Kafka sink commits at each checkpoint); a SET in the script wins (default: ${DEFAULT-VALUE}).")
    long checkpointIntervalMs;

    /** One job an INSERT (or a statement set) started. */
    private record Started(String statement, JobClient client, CompletableFuture<?> result) {
    }

    @Override
    public Integer call() throws Exception {
        if (!Files.isRegularFile(file)) {
            throw new IllegalArgumentException("--file " + file + ": no such file");
        }
        dev.crmn.jobs.local.LocalJob.checkDuration(duration);
        if (parallelism < 0 || checkpointIntervalMs < 1) {
            throw new IllegalArgumentException("--parallelism must be >= 0, --checkpoint-interval-ms >= 1");
        }
        List<String> statements = SqlScript.statements(Files.readString(file), Map.of("bootstrap-servers", bootstrapServers));
        if (statements.isEmpty()) {
            throw new IllegalArgumentException("--file " + file + " holds no statement");
        }
        try (java.nio.channels.FileChannel lock = lockScript(file)) {
            return run(statements);
        }
    }

    /**
     * One copy of a script at a time on this machine: a lock on a file in the temporary directory named after the
     * script's path, held while the command runs (the operating system releases it when the process ends, however it
     * ends). Two copies would read every frame twice and fence each other's Kafka transactions.
     */
    static java.nio.channels.FileChannel lockScript(Path script) throws Exception {
        String key = java.util.HexFormat.of().formatHex(java.security.MessageDigest.getInstance("SHA-256")
                .digest(script.toAbsolutePath().normalize().toString().getBytes(java.nio.charset.StandardCharsets.UTF_8)));
        Path lockFile = Path.of(System.getProperty("java.io.tmpdir"), "crmn-sql-" + key.substring(0, 16) + ".lock");
        java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lockFile,
                java.nio.file.StandardOpenOption.CREATE, java.nio.file.StandardOpenOption.WRITE);
        java.nio.channels.FileLock held;
        try {
            held = ch.tryLock();
        } catch (java.nio.channels.OverlappingFileLockException sameProcess) {
            held = null;
        }
        if (held == null) {
            ch.close();
            throw new IllegalArgumentException("another crmn sql runs " + script + " on this machine (lock " + lockFile
                    + "); two copies of one script would read every frame twice and fence each other's Kafka"
                    + " transactions: wait for it, or give a copy its own group id and transactional-id prefix in a"
                    + " script of its own (docs/sql.md)");
        }
        return ch;
    }

    private int run(List<String> statements) throws Exception {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.DEFAULT_PARALLELISM, parallelism > 0 ? parallelism : Runtime.getRuntime().availableProcessors());
        conf.set(CheckpointingOptions.CHECKPOINTING_INTERVAL, java.time.Duration.ofMillis(checkpointIntervalMs));
        // a job that cannot start (a model that does not load, a topic that is missing) ends the command instead of
        // restarting for ever; a failure now and then (a broker restart) is recovered from
        conf.set(RestartStrategyOptions.RESTART_STRATEGY, "fixed-delay");
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_ATTEMPTS, 3);
        conf.set(RestartStrategyOptions.RESTART_STRATEGY_FIXED_DELAY_DELAY, java.time.Duration.ofSeconds(2));
        StreamExecutionEnvironment env = StreamExecutionEnvironment.createLocalEnvironment(conf);
        StreamTableEnvironment tables = StreamTableEnvironment.create(env);
        tables.getConfig().set(ExecutionConfigOptions.TABLE_EXEC_ASYNC_ML_PREDICT_MAX_CONCURRENT_OPERATIONS,
                DEFAULT_MAX_CONCURRENT_OPERATIONS);
        List<Started> jobs = new ArrayList<>();
        Thread cancelOnExit = new Thread(() -> cancel(jobs, "interrupted"));
        Runtime.getRuntime().addShutdownHook(cancelOnExit);
        try {
            for (int i = 0; i < statements.size(); i++) {
                String s = statements.get(i);
                java.util.Optional<SqlScript.Setting> set = SqlScript.setting(s);
                if (set.isPresent()) { // the SQL client's SET/RESET: the session's configuration, for what follows
                    SqlScript.Setting kv = set.get();
                    if (kv.value() == null) {
                        tables.getConfig().getConfiguration().removeKey(kv.key());
                        System.err.printf("sql: reset %s%n", kv.key());
                    } else {
                        tables.getConfig().getConfiguration().setString(kv.key(), kv.value());
                        System.err.printf("sql: set %s = %s%n", kv.key(), kv.value());
                    }
                    continue;
                }
                TableResult r;
                try {
                    r = tables.executeSql(s);
                } catch (RuntimeException e) {
                    System.err.printf("sql: statement %d (%s) failed: %s%n", i + 1, SqlScript.firstLine(s), explain(e));
                    cancel(jobs, "the script failed");
                    return 1;
                }
                if (r.getJobClient().isPresent()) {
                    JobClient c = r.getJobClient().get();
                    jobs.add(new Started(SqlScript.firstLine(s), c, c.getJobExecutionResult()));
                    System.err.printf("sql: job %s started: %s%n", c.getJobID(), SqlScript.firstLine(s));
                } else if (printsRows(s)) {
                    r.print();
                } else {
                    System.err.printf("sql: ok: %s%n", SqlScript.firstLine(s));
                }
            }
            return await(jobs);
        } finally {
            try {
                Runtime.getRuntime().removeShutdownHook(cancelOnExit);
            } catch (IllegalStateException exiting) {
                // the hook runs
            }
        }
    }

    private static boolean printsRows(String statement) {
        String u = statement.strip().toUpperCase(Locale.ROOT);
        return u.startsWith("SHOW") || u.startsWith("DESC") || u.startsWith("EXPLAIN");
    }

    /** Waits for every job (or until --duration); 1 when one failed. */
    private int await(List<Started> jobs) throws InterruptedException {
        long deadline = duration > 0 ? System.nanoTime() + (long) (duration * 1e9) : Long.MAX_VALUE;
        int failed = 0;
        for (Started j : jobs) {
            try {
                long left = deadline - System.nanoTime();
                if (left <= 0) {
                    throw new TimeoutException();
                }
                j.result().get(left, TimeUnit.NANOSECONDS);
                System.err.printf("sql: job %s finished: %s%n", j.client().getJobID(), j.statement());
            } catch (TimeoutException e) {
                break;
            } catch (ExecutionException e) {
                failed++;
                System.err.printf("sql: job %s failed: %s: %s%n", j.client().getJobID(), j.statement(),
                        explain(e.getCause() == null ? e : e.getCause()));
            }
        }
        cancel(jobs, "--duration " + duration + " s reached");
        return failed > 0 ? 1 : 0;
    }

    private static void cancel(List<Started> jobs, String why) {
        for (Started j : jobs) {
            if (!j.result().isDone()) {
                try {
                    j.client().cancel().get(30, TimeUnit.SECONDS);
                    System.err.printf("sql: job %s cancelled (%s): %s%n", j.client().getJobID(), why, j.statement());
                } catch (Exception e) {
                    System.err.printf("sql: could not cancel job %s: %s%n", j.client().getJobID(), e);
                }
            }
        }
    }

    /** The first line of the failure and, when it says something else, of its root cause. */
    static String explain(Throwable e) {
        String top = String.valueOf(e.getMessage()).lines().findFirst().orElse(e.toString());
        Throwable root = rootCause(e);
        String cause = String.valueOf(root.getMessage()).lines().findFirst().orElse(root.toString());
        return root == e || top.contains(cause) ? top : top + " (" + cause + ")";
    }

    private static Throwable rootCause(Throwable e) {
        Throwable t = e;
        while (t.getCause() != null && t.getCause() != t) {
            t = t.getCause();
        }
        return t;
    }
}
