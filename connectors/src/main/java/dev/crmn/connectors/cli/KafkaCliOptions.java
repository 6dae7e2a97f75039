package dev.crmn.connectors.cli;

import dev.crmn.connectors.kafka.CrmnKafka;
import dev.crmn.connectors.kafka.KafkaOptions;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import picocli.CommandLine.Option;

/**
 * Mixin: {@code --bootstrap-servers}, and the checks the Kafka tools share. Commands that use it declare an
 * {@code @Unmatched} list (picocli does not collect unmatched arguments in mixins) and pass it to
 * {@link #toOptions(List)}, which accepts only {@code --kafka.<property>=<value>} there.
 */
public final class KafkaCliOptions {

    /** How long a tool waits for a broker before saying it cannot reach one. */
    static final Duration REACH_TIMEOUT = Duration.ofSeconds(8);

    @Option(names = "--bootstrap-servers", defaultValue = "localhost:9092",
            description = "Kafka bootstrap servers (default: ${DEFAULT-VALUE}). Any Kafka client property: --kafka.<property>=<value>.")
    String bootstrapServers;

    public KafkaOptions toOptions(List<String> unmatched) {
        return new KafkaOptions(bootstrapServers, KafkaOptions.parse(unmatched));
    }

    /**
     * The broker's topics, after checking within a few seconds that a broker answers.
     *
     * @throws IOException naming the servers and how to start a broker, when none answers
     */
    public static Set<String> topics(KafkaOptions opts) throws IOException, InterruptedException {
        Properties p = opts.toProperties();
        p.putIfAbsent(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, Long.toString(REACH_TIMEOUT.toMillis()));
        p.putIfAbsent(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, Long.toString(REACH_TIMEOUT.toMillis()));
        Admin admin = Admin.create(p);
        try {
            return admin.listTopics().names().get(REACH_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (TimeoutException | ExecutionException e) {
            throw unreachable(opts);
        } finally {
            admin.close(Duration.ofSeconds(1)); // do not wait out the API timeout on an unreachable broker
        }
    }

    /** Checks that a broker answers (see {@link #topics}). */
    public static void checkReachable(KafkaOptions opts) throws IOException, InterruptedException {
        topics(opts);
    }

    static IOException unreachable(KafkaOptions opts) {
        return new IOException("cannot reach Kafka at " + opts.bootstrapServers() + " within "
                + REACH_TIMEOUT.toSeconds() + " s (start one with ./crmn broker, or pass --bootstrap-servers)");
    }

    /** Creates {@code topic} with {@code partitions} partitions unless it exists. */
    public static void ensureTopic(KafkaOptions opts, String topic, int partitions) throws IOException, InterruptedException {
        if (topics(opts).contains(topic)) {
            return;
        }
        try (Admin admin = Admin.create(opts.toProperties())) {
            if (CrmnKafka.createTopic(admin, topic, partitions, (short) -1, java.util.Map.of(), REACH_TIMEOUT)) {
                System.err.println("created topic " + topic + " with " + partitions + " partition(s)");
            }
        }
    }
}
