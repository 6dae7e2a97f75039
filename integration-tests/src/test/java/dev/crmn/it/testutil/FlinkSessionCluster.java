package dev.crmn.it.testutil;

import java.io.File;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessSpec;
import org.apache.flink.runtime.clusterframework.TaskExecutorProcessUtils;
import org.apache.flink.runtime.jobmanager.JobManagerProcessSpec;
import org.apache.flink.runtime.jobmanager.JobManagerProcessUtils;
import org.apache.flink.runtime.util.config.memory.ProcessMemoryUtils;

/**
 * A Flink session cluster as separate processes: one JobManager JVM ({@code StandaloneSessionClusterEntrypoint}) and
 * one TaskManager JVM ({@code TaskManagerRunner}), each with its own configuration directory, started from the Maven
 * artifacts on the test class path (Flink, its REST/web submission module, the Prometheus reporter) plus the cluster
 * {@code lib/} the build leaves in {@code target/dist/lib} (DL4J/ND4J, their natives and the bridge). The Kafka
 * connector and client and the project's own classes are kept off the cluster's class path: they must come from the
 * submitted job jar, as on a real cluster.
 *
 * <p>{@code settings} are Flink configuration entries applied to both processes; {@code env.java.opts.jobmanager} and
 * {@code env.java.opts.taskmanager} there become the JVMs' options, as Flink's start scripts do. Logs go to {@code <dir>/log/}; {@link #logTail()} shows
 * them when a test fails.
 */
public final class FlinkSessionCluster implements AutoCloseable {

    /**
     * What the Flink distribution's own configuration passes to every JVM on Java 17 (module exports and opens that
     * Flink's serializers and program translation need); a cluster started from Maven artifacts has no such file.
     */
    static final String FLINK_JVM_OPTS = String.join(" ",
            "--add-exports=java.base/sun.net.util=ALL-UNNAMED", "--add-exports=java.rmi/sun.rmi.registry=ALL-UNNAMED",
            "--add-exports=java.security.jgss/sun.security.krb5=ALL-UNNAMED",
            "--add-opens=java.base/java.lang=ALL-UNNAMED", "--add-opens=java.base/java.net=ALL-UNNAMED",
            "--add-opens=java.base/java.io=ALL-UNNAMED", "--add-opens=java.base/java.nio=ALL-UNNAMED",
            "--add-opens=java.base/sun.nio.ch=ALL-UNNAMED", "--add-opens=java.base/java.lang.reflect=ALL-UNNAMED",
            "--add-opens=java.base/java.text=ALL-UNNAMED", "--add-opens=java.base/java.time=ALL-UNNAMED",
            "--add-opens=java.base/java.util=ALL-UNNAMED", "--add-opens=java.base/java.util.concurrent=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.atomic=ALL-UNNAMED",
            "--add-opens=java.base/java.util.concurrent.locks=ALL-UNNAMED");

    private final Path dir;
    private final int restPort;
    private final int taskManagerMetricsPort;
    private final List<Process> processes = new ArrayList<>();

    private FlinkSessionCluster(Path dir, int restPort, int taskManagerMetricsPort) {
        this.dir = dir;
        this.restPort = restPort;
        this.taskManagerMetricsPort = taskManagerMetricsPort;
    }

    /**
     * Starts the JobManager and one TaskManager; returns once both processes are launched (use the REST API to wait
     * for the TaskManager to register).
     *
     * @param dir      working directory (configuration, logs, checkpoints, uploads)
     * @param settings Flink settings for both processes (ports and host names are set here)
     * @param dist     the build's {@code target/dist}
     */
    public static FlinkSessionCluster start(Path dir, Map<String, String> settings, Path dist) throws IOException {
        int rpc = dev.crmn.jobs.local.FreePorts.next();
        int rest = dev.crmn.jobs.local.FreePorts.next();
        int jmMetrics = dev.crmn.jobs.local.FreePorts.next();
        int tmMetrics = dev.crmn.jobs.local.FreePorts.next();
        FlinkSessionCluster c = new FlinkSessionCluster(dir, rest, tmMetrics);
        Map<String, String> common = new LinkedHashMap<>(settings);
        common.put("jobmanager.rpc.address", "localhost");
        common.put("jobmanager.rpc.port", Integer.toString(rpc));
        common.put("jobmanager.bind-host", "localhost");
        common.put("rest.address", "localhost");
        common.put("rest.bind-address", "localhost");
        common.put("rest.port", Integer.toString(rest));
        common.put("taskmanager.host", "localhost");
        common.put("taskmanager.bind-host", "localhost");
        common.put("io.tmp.dirs", dir.resolve("tmp").toString());
        common.put("web.tmpdir", dir.resolve("web").toString());
        common.put("blob.storage.directory", dir.resolve("blobs").toString());
        common.put("execution.checkpointing.dir", dir.resolve("checkpoints").toUri().toString());
        Files.createDirectories(dir.resolve("tmp"));
        Files.createDirectories(dir.resolve("log"));
        String classpath = classpath(dist);
        try {
            Map<String, String> jm = with(common, "metrics.reporter.prom.port", jmMetrics);
            JobManagerProcessSpec jmSpec = JobManagerProcessUtils.processSpecFromConfig(Configuration.fromMap(jm));
            c.launch("jobmanager", "org.apache.flink.runtime.entrypoint.StandaloneSessionClusterEntrypoint", jm,
                    JobManagerProcessUtils.generateJvmParametersStr(jmSpec, Configuration.fromMap(jm)) + " " + FLINK_JVM_OPTS + " "
                            + common.getOrDefault("env.java.opts.jobmanager", ""),
                    JobManagerProcessUtils.generateDynamicConfigsStr(jmSpec), classpath);
            Map<String, String> tm = with(common, "metrics.reporter.prom.port", tmMetrics);
            TaskExecutorProcessSpec tmSpec = TaskExecutorProcessUtils.processSpecFromConfig(Configuration.fromMap(tm));
            c.launch("taskmanager", "org.apache.flink.runtime.taskexecutor.TaskManagerRunner", tm,
                    ProcessMemoryUtils.generateJvmParametersStr(tmSpec) + " " + FLINK_JVM_OPTS + " "
                            + common.getOrDefault("env.java.opts.taskmanager", ""),
                    TaskExecutorProcessUtils.generateDynamicConfigsStr(tmSpec), classpath);
        } catch (IOException | RuntimeException e) {
            c.close();
            throw e;
        }
        return c;
    }

    public String restUrl() {
        return "http://localhost:" + restPort;
    }

    /** The TaskManager's Prometheus endpoint. */
    public String taskManagerMetricsUrl() {
        return "http://localhost:" + taskManagerMetricsPort + "/metrics";
    }

    /** The last lines of each process's log, for a failure message. */
    public String logTail() {
        StringBuilder b = new StringBuilder();
        try (Stream<Path> logs = Files.list(dir.resolve("log"))) {
            for (Path log : logs.sorted().toList()) {
                List<String> lines = Files.readAllLines(log, StandardCharsets.UTF_8);
                b.append("==> ").append(log.getFileName()).append('\n');
                lines.subList(Math.max(0, lines.size() - 40), lines.size()).forEach(l -> b.append(l).append('\n'));
            }
        } catch (IOException e) {
            b.append("(logs unreadable: ").append(e.getMessage()).append(")");
        }
        return b.toString();
    }

    /** True while both processes run. */
    public boolean alive() {
        return processes.stream().allMatch(Process::isAlive);
    }

    @Override
    public void close() {
        for (int i = processes.size() - 1; i >= 0; i--) {
            processes.get(i).destroy(); // SIGTERM: Flink's shutdown hooks run (TaskManager first)
        }
        for (Process p : processes) {
            try {
                if (!p.waitFor(30, TimeUnit.SECONDS)) {
                    p.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                p.destroyForcibly();
            }
        }
    }

    /**
     * Starts one process as Flink's start scripts do: the memory settings derived from the configuration become JVM
     * options (heap, direct, metaspace) and dynamic properties ({@code -D key=value} after {@code --configDir}).
     */
    private void launch(String name, String mainClass, Map<String, String> config, String jvmOpts, String dynamicConfigs,
                        String classpath) throws IOException {
        Path conf = dir.resolve("conf-" + name);
        Files.createDirectories(conf);
        Files.writeString(conf.resolve("config.yaml"), config.entrySet().stream()
                .map(e -> e.getKey() + ": " + yamlScalar(e.getValue())).collect(Collectors.joining("\n", "", "\n")));
        Path log4j = conf.resolve("log4j2.properties");
        Files.writeString(log4j, String.join("\n",
                "rootLogger.level = INFO",
                "rootLogger.appenderRef.file.ref = file",
                "appender.file.type = File",
                "appender.file.name = file",
                "appender.file.fileName = " + dir.resolve("log").resolve(name + ".log"),
                "appender.file.layout.type = PatternLayout",
                "appender.file.layout.pattern = %d{HH:mm:ss.SSS} %-5p [%t] %c{1} - %m%n",
                "logger.kafka.name = org.apache.kafka",
                "logger.kafka.level = WARN", ""));
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(Arrays.stream(jvmOpts.trim().split("\\s+")).filter(s -> !s.isEmpty()).toList());
        cmd.add("-Dlog4j2.configurationFile=" + log4j.toUri());
        cmd.add("-Dlog.file=" + dir.resolve("log").resolve(name + ".log"));
        cmd.add("-Djava.awt.headless=true");
        cmd.add("-cp");
        cmd.add(classpath);
        cmd.add(mainClass);
        cmd.add("--configDir");
        cmd.add(conf.toString());
        cmd.addAll(Arrays.stream(dynamicConfigs.trim().split("\\s+")).filter(s -> !s.isEmpty()).toList());
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile())
                .redirectErrorStream(true).redirectOutput(dir.resolve("log").resolve(name + ".out").toFile());
        pb.environment().put("OMP_NUM_THREADS", "1"); // one OpenMP thread per slot (docker/README.md)
        processes.add(pb.start());
    }

    /**
     * The cluster's class path: Flink and everything else on the test class path that is a jar from the local
     * repository, except the Kafka connector/client/broker and this project's modules, plus {@code dist/lib}.
     */
    static String classpath(Path dist) throws IOException {
        Path lib = dist.resolve("lib");
        List<Path> libJars;
        try (Stream<Path> s = Files.list(lib)) {
            libJars = s.filter(p -> p.toString().endsWith(".jar")).sorted().toList();
        }
        Set<String> inLib = libJars.stream().map(p -> p.getFileName().toString()).collect(Collectors.toSet());
        List<String> cp = new ArrayList<>();
        for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String file = Path.of(entry).getFileName().toString();
            boolean keep = file.endsWith(".jar") && !inLib.contains(file) && !file.startsWith("crmn-")
                    && !file.startsWith("kafka") && !file.startsWith("flink-connector-kafka")
                    && !file.startsWith("junit") && !file.startsWith("testcontainers");
            if (keep) {
                cp.add(entry);
            }
        }
        if (cp.stream().noneMatch(e -> Path.of(e).getFileName().toString().startsWith("flink-runtime-web"))) {
            throw new IllegalStateException("flink-runtime-web is not on the test class path (java.class.path); the"
                    + " session cluster needs it for jar submission");
        }
        libJars.forEach(p -> cp.add(p.toAbsolutePath().toString()));
        return String.join(File.pathSeparator, cp);
    }

    private static Map<String, String> with(Map<String, String> m, String key, int value) {
        Map<String, String> copy = new LinkedHashMap<>(m);
        copy.put(key, Integer.toString(value));
        return copy;
    }

    private static String yamlScalar(String v) {
        return "'" + v.replace("'", "''") + "'";
    }
}
