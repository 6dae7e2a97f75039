package dev.crmn.it.testutil;

import dev.crmn.jobs.local.EmbeddedKafka;
import java.io.IOException;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.common.errors.TopicExistsException;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The real Kafka broker of every integration test, from one place. Which broker, by the system property
 * {@value #PROPERTY} (or the environment variable {@code CRMN_TEST_KAFKA}):
 * <ul>
 *   <li>{@code container}: Testcontainers' Kafka module with the official {@code apache/kafka} image
 *       ({@value #IMAGE}); needs a Docker engine;</li>
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
            org.testcontainers.kafka.KafkaContainer c = new org.testcontainers.kafka.KafkaContainer(IMAGE);
            c.start();
            LOG.info("Kafka broker: container {} at {}", IMAGE, c.getBootstrapServers());
            return new KafkaFixture(c.getBootstrapServers(), "container " + IMAGE, c);
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
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(config))).all().get();
        } catch (ExecutionException e) {
            if (!(e.getCause() instanceof TopicExistsException)) {
                throw new IOException("cannot create topic " + name + ": " + e.getCause().getMessage(), e.getCause());
            }
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted", e);
        }
    }

    @Override
    public void close() throws Exception {
        broker.close();
    }
}
