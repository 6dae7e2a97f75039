package dev.crmn.jobs.local;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Comparator;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.stream.Stream;
import kafka.server.KafkaConfig;
import kafka.server.KafkaRaftServer;
import kafka.tools.StorageTool;
import dev.crmn.connectors.kafka.CrmnKafka;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.utils.Time;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A real single-node Kafka broker (KRaft, combined broker + controller) started in this JVM from the
 * {@code kafka_2.13} Maven artifact: for tests, the local runner and demos. Configured as a single-node
 * cluster must be for consumer groups and transactions to work (replication factors 1, no initial
 * rebalance delay).
 *
 * <pre>{@code
 * try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
 *     kafka.createTopic("frames", 2);
 *     String servers = kafka.bootstrapServers();
 * }
 * }</pre>
 */
public final class EmbeddedKafka implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(EmbeddedKafka.class);

    private final KafkaRaftServer server;
    private final Path logDir;
    private final boolean deleteOnClose;
    private final int port;

    private EmbeddedKafka(KafkaRaftServer server, Path logDir, boolean deleteOnClose, int port) {
        this.server = server;
        this.logDir = logDir;
        this.deleteOnClose = deleteOnClose;
        this.port = port;
    }

    /** A broker on a free loopback port with a temporary log directory, deleted on close. */
    public static EmbeddedKafka start() throws IOException {
        return start(0, null, Map.of());
    }

    /**
     * @param port      the client port (0 = any free port)
     * @param logDir    where the broker keeps its data (null = a temporary directory, deleted on close);
     *                  an existing, formatted directory is reused
     * @param overrides extra broker properties
     * @throws BrokerConflictException before anything is touched, if the port is taken or another broker holds
     *                                 the data directory
     */
    public static EmbeddedKafka start(int port, Path logDir, Map<String, String> overrides) throws IOException {
        boolean temporary = logDir == null;
        if (!temporary) {
            checkNotInUse(logDir.resolve("data"));
        }
        if (port != 0 && !portFree(port)) {
            throw new BrokerConflictException("port " + port + " is in use (another broker? pass --port, or stop it)");
        }
        Path dir = temporary ? Files.createTempDirectory("crmn-kafka-") : logDir;
        Files.createDirectories(dir);
        int clientPort = port == 0 ? FreePorts.next() : port;
        int controllerPort = FreePorts.next();
        Properties p = new Properties();
        p.put("process.roles", "broker,controller");
        p.put("node.id", "1");
        p.put("controller.quorum.voters", "1@127.0.0.1:" + controllerPort);
        p.put("listeners", "PLAINTEXT://127.0.0.1:" + clientPort + ",CONTROLLER://127.0.0.1:" + controllerPort);
        p.put("advertised.listeners", "PLAINTEXT://127.0.0.1:" + clientPort);
        p.put("controller.listener.names", "CONTROLLER");
        p.put("listener.security.protocol.map", "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT");
        p.put("inter.broker.listener.name", "PLAINTEXT");
        p.put("log.dirs", dir.resolve("data").toString());
        p.put("offsets.topic.replication.factor", "1");
        p.put("offsets.topic.num.partitions", "4");
        p.put("transaction.state.log.replication.factor", "1");
        p.put("transaction.state.log.min.isr", "1");
        p.put("transaction.state.log.num.partitions", "4");
        p.put("group.initial.rebalance.delay.ms", "0");
        p.put("share.coordinator.state.topic.replication.factor", "1");
        p.put("share.coordinator.state.topic.min.isr", "1");
        p.put("num.partitions", "1");
        p.put("auto.create.topics.enable", "false");
        p.put("log.flush.interval.messages", "1000000");
        p.putAll(overrides);
        Path config = dir.resolve("server.properties");
        try (OutputStream out = Files.newOutputStream(config)) {
            p.store(out, "crmn-flink embedded broker");
        }
        if (!Files.exists(dir.resolve("data").resolve("meta.properties"))) {
            ByteArrayOutputStream log = new ByteArrayOutputStream();
            int rc = StorageTool.execute(new String[]{"format", "-t", clusterId(), "-c", config.toString()},
                    new PrintStream(log, true, StandardCharsets.UTF_8));
            if (rc != 0) {
                throw new IOException("formatting the Kafka log directory failed: " + log.toString(StandardCharsets.UTF_8));
            }
        }
        KafkaRaftServer server = new KafkaRaftServer(KafkaConfig.fromProps(p, false), Time.SYSTEM);
        server.startup();
        EmbeddedKafka kafka = new EmbeddedKafka(server, dir, temporary, clientPort);
        kafka.awaitReady();
        LOG.info("embedded Kafka broker at {} (data in {})", kafka.bootstrapServers(), dir);
        return kafka;
    }

    /** Kafka's own random id: never starts with '-' (which the storage tool would read as an option). */
    private static String clusterId() {
        return org.apache.kafka.common.Uuid.randomUuid().toString();
    }

    /** The broker could not start because something else holds its port or data directory. */
    public static final class BrokerConflictException extends IOException {
        public BrokerConflictException(String message) {
            super(message);
        }
    }

    /**
     * Refuses a data directory another broker (this process or another) has locked: Kafka locks
     * {@code <log dir>/.lock} while it runs, and a second broker on the same directory corrupts the first.
     */
    private static void checkNotInUse(Path dataDir) throws IOException {
        Path lock = dataDir.resolve(".lock");
        if (!Files.exists(lock)) {
            return;
        }
        try (java.nio.channels.FileChannel ch = java.nio.channels.FileChannel.open(lock,
                java.nio.file.StandardOpenOption.WRITE)) {
            java.nio.channels.FileLock l = ch.tryLock();
            if (l == null) {
                throw inUse(dataDir);
            }
            l.release();
        } catch (java.nio.channels.OverlappingFileLockException e) {
            throw inUse(dataDir);
        }
    }

    private static BrokerConflictException inUse(Path dataDir) {
        return new BrokerConflictException("a Kafka broker is already running on " + dataDir.getParent()
                + " (stop it, or pass another --data-dir)");
    }

    private static boolean portFree(int port) {
        try (ServerSocket s = new ServerSocket()) {
            s.setReuseAddress(true);
            s.bind(new java.net.InetSocketAddress("127.0.0.1", port));
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    private void awaitReady() throws IOException {
        long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
        IOException last = null;
        while (System.nanoTime() < deadline) {
            try (Admin admin = admin()) {
                admin.describeCluster().nodes().get();
                return;
            } catch (ExecutionException e) {
                last = new IOException(e.getCause());
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new IOException("interrupted while waiting for the broker", e);
            }
        }
        throw new IOException("embedded Kafka broker did not become ready within 60 s", last);
    }

    /** {@code 127.0.0.1:<port>}. */
    public String bootstrapServers() {
        return "127.0.0.1:" + port;
    }

    public Path logDir() {
        return logDir;
    }

    /** An admin client for this broker; close it. */
    public Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers());
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "20000");
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "5000");
        return Admin.create(p);
    }

    /** Creates a topic (no error if it exists). */
    public void createTopic(String name, int partitions) throws IOException {
        createTopic(name, partitions, Map.of());
    }

    public void createTopic(String name, int partitions, Map<String, String> config) throws IOException {
        try (Admin admin = admin()) {
            CrmnKafka.createTopic(admin, name, partitions, (short) 1, config, Duration.ofSeconds(30));
        }
    }

    @Override
    public void close() {
        server.shutdown();
        server.awaitShutdown();
        if (deleteOnClose) {
            try (Stream<Path> s = Files.walk(logDir)) {
                s.sorted(Comparator.reverseOrder()).forEach(f -> f.toFile().delete());
            } catch (IOException e) {
                LOG.debug("cannot delete {}", logDir, e);
            }
        }
    }
}
