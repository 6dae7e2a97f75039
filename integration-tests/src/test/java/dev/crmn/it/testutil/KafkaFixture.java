package dev.crmn.it.testutil;

import dev.crmn.jobs.local.EmbeddedKafka;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import dev.crmn.connectors.kafka.CrmnKafka;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The real Kafka broker of every integration test, from one place. Which broker, by the system property
 * {@value #PROPERTY} (or the environment variable {@code CRMN_TEST_KAFKA}):
 * <ul>
 *   <li>{@code container}: Testcontainers' Kafka module with the official {@code apache/kafka} image
 *       ({@value #IMAGE}), or the image named by {@value #IMAGE_PROPERTY} ({@code CRMN_TEST_KAFKA_IMAGE}) as a
 *       compatible substitute (CI: {@code crmn-offline/kafka:4.2.0} from docker/build-offline-images.sh), on a network
 *       of its own (engines without a default bridge, like CI's, have only user-defined ones); needs a Docker
 *       engine;</li>
 *   <li>{@code embedded}: the in-process KRaft broker ({@link EmbeddedKafka}, from Maven artifacts);</li>
 *   <li>{@code auto} (default): the container when a Docker engine answers, else embedded.</li>
 * </ul>
 * Both are configured for a single node (replication factors 1, transactions), so the same tests run on either.
 * Machines without Docker (CI here) take the embedded path; {@code -Dcrmn.test.kafka=container} there fails
 * loudly rather than silently testing something else.
 */
public final class KafkaFixture implements AutoCloseable {

    public static final String PROPERTY = "crmn.test.kafka";
    public static final String IMAGE = "apache/kafka:4.2.0";
    public static final String IMAGE_PROPERTY = "crmn.test.kafka.image";
    private static final Logger LOG = LoggerFactory.getLogger(KafkaFixture.class);

    private final String bootstrapServers;
    private final String kind;
    private final AutoCloseable broker;

    private KafkaFixture(String bootstrapServers, String kind, AutoCloseable broker) {
        this.bootstrapServers = bootstrapServers;
        this.kind = kind;
        this.broker = broker;
    }

    /** Starts the broker the rule above chooses. */
    public static KafkaFixture start() throws IOException {
        String choice = System.getProperty(PROPERTY, System.getenv().getOrDefault("CRMN_TEST_KAFKA", "auto"))
                .toLowerCase(Locale.ROOT);
        boolean container = switch (choice) {
            case "container" -> true;
            case "embedded" -> false;
            case "auto" -> dockerAvailable();
            default -> throw new IllegalArgumentException(PROPERTY + " must be auto, container or embedded, got " + choice);
        };
        if (container) {
            String image = System.getProperty(IMAGE_PROPERTY, System.getenv().getOrDefault("CRMN_TEST_KAFKA_IMAGE", IMAGE));
            org.testcontainers.containers.Network network = org.testcontainers.containers.Network.newNetwork();
            org.testcontainers.kafka.KafkaContainer c = new org.testcontainers.kafka.KafkaContainer(
                    org.testcontainers.utility.DockerImageName.parse(image).asCompatibleSubstituteFor("apache/kafka"))
                    .withNetwork(network);
            try {
                c.start();
            } catch (RuntimeException e) {
                network.close();
                throw e;
            }
            LOG.info("Kafka broker: container {} at {}", image, c.getBootstrapServers());
            return new KafkaFixture(c.getBootstrapServers(), "container " + image, () -> {
                c.close();
                network.close();
            });
        }
        EmbeddedKafka k = EmbeddedKafka.start();
        LOG.info("Kafka broker: embedded KRaft at {} ({})", k.bootstrapServers(),
                choice.equals("auto") ? "no Docker engine: Testcontainers tests run on the in-process broker" : "forced");
        return new KafkaFixture(k.bootstrapServers(), "embedded", k);
    }

    private static boolean dockerAvailable() {
        try {
            return org.testcontainers.DockerClientFactory.instance().isDockerAvailable();
        } catch (RuntimeException | LinkageError e) {
            return false;
        }
    }

    public String bootstrapServers() {
        return bootstrapServers;
    }

    /** "embedded" or "container &lt;image&gt;". */
    public String kind() {
        return kind;
    }

    public Admin admin() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        return Admin.create(p);
    }

    public void createTopic(String name, int partitions) throws IOException {
        createTopic(name, partitions, Map.of());
    }

    /** Creates a topic (no error if it exists). */
    public void createTopic(String name, int partitions, Map<String, String> config) throws IOException {
        try (Admin admin = admin()) {
            CrmnKafka.createTopic(admin, name, partitions, (short) 1, config, java.time.Duration.ofSeconds(30));
        }
    }

    /** A byte-array producer for this broker, transactional when {@code transactionalId} is given. */
    public KafkaProducer<byte[], byte[]> producer(String transactionalId) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        if (transactionalId != null) {
            p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, transactionalId);
        }
        return new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer());
    }

    /**
     * Up to {@code n} records of {@code topic} (all partitions, no consumer group): waits (at most 60 s) until
     * {@code n} are visible, or stops earlier once at least one is and everything visible is read. The tests
     * write before they read, so "everything visible" is everything they wrote; an empty topic waits the 60 s
     * ({@link #committedNow} does not).
     *
     * @param isolation {@code read_committed} or {@code read_uncommitted}
     */
    public List<ConsumerRecord<byte[], byte[]>> read(String topic, int n, String isolation) {
        List<ConsumerRecord<byte[], byte[]>> out = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(60).toNanos();
        try (KafkaConsumer<byte[], byte[]> c = assigned(topic, isolation, deadline)) {
            while (out.size() < n && System.nanoTime() < deadline) {
                c.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
                Map<TopicPartition, Long> end = c.endOffsets(c.assignment()); // read_committed: the last stable offsets
                if (!out.isEmpty() && c.assignment().stream().allMatch(tp -> c.position(tp) >= end.get(tp))) {
                    break;
                }
            }
        }
        return out;
    }

    /**
     * Every committed record of {@code topic} visible now (up to its last stable offsets when called), without
     * waiting for more: for "nothing was written" checks, which {@link #read} would wait 60 s on.
     */
    public List<ConsumerRecord<byte[], byte[]>> committedNow(String topic) {
        List<ConsumerRecord<byte[], byte[]>> out = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + java.time.Duration.ofSeconds(60).toNanos();
        try (KafkaConsumer<byte[], byte[]> c = assigned(topic, "read_committed", deadline)) {
            Map<TopicPartition, Long> end = c.endOffsets(c.assignment());
            while (c.assignment().stream().anyMatch(tp -> c.position(tp) < end.get(tp))) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("could not read " + topic + " up to " + end + " within 60 s");
                }
                c.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    /**
     * Waits until {@code topic} holds at least {@code n} committed records (a running job writing them), reads a
     * little longer to catch any extra (duplicates) and returns them all.
     *
     * @throws AssertionError if fewer arrive within {@code timeout}
     */
    public List<ConsumerRecord<byte[], byte[]>> await(String topic, int n, java.time.Duration timeout) {
        List<ConsumerRecord<byte[], byte[]>> out = new java.util.ArrayList<>();
        long deadline = System.nanoTime() + timeout.toNanos();
        try (KafkaConsumer<byte[], byte[]> c = assigned(topic, "read_committed", deadline)) {
            while (out.size() < n && System.nanoTime() < deadline) {
                c.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
            }
            if (out.size() < n) {
                throw new AssertionError("only " + out.size() + " of " + n + " committed records on " + topic + " within " + timeout);
            }
            long settle = System.nanoTime() + java.time.Duration.ofSeconds(2).toNanos(); // a duplicate would show now
            while (System.nanoTime() < settle) {
                c.poll(java.time.Duration.ofMillis(200)).forEach(out::add);
            }
        }
        return out;
    }

    /** A consumer assigned to every partition of {@code topic} (no group), at the beginning. */
    private KafkaConsumer<byte[], byte[]> assigned(String topic, String isolation, long deadline) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrapServers);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation);
        KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        List<TopicPartition> parts = List.of();
        while (parts.isEmpty() && System.nanoTime() < deadline) {
            parts = c.partitionsFor(topic).stream().map(i -> new TopicPartition(topic, i.partition())).toList();
        }
        c.assign(parts);
        c.seekToBeginning(parts);
        return c;
    }

    /** {@link #read(String, int, String)} read-committed. */
    public List<ConsumerRecord<byte[], byte[]>> read(String topic, int n) {
        return read(topic, n, "read_committed");
    }

    @Override
    public void close() throws Exception {
        broker.close();
    }
}
