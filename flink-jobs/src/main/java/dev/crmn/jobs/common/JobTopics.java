package dev.crmn.jobs.common;

import dev.crmn.connectors.cli.KafkaCliOptions;
import dev.crmn.connectors.kafka.KafkaOptions;
import java.io.IOException;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;

/**
 * The topics a job reads and writes exist before it starts. Without this check a missing input topic made the
 * job's Kafka source fail and the job restart over and over (a stack trace every few seconds), and a missing
 * output topic held its producers up for a minute at a time. Listing the topics is also the jobs' first check that
 * a broker answers ({@link KafkaCliOptions#topics}: within seconds, in one line).
 */
public final class JobTopics {

    private JobTopics() {
    }

    /**
     * @param options the job's topic options; each names a topic in {@code config}
     * @return the topics the broker has (for a job's optional topics: one listing, not two)
     * @throws IOException naming each missing topic with its option, and how to create it
     */
    public static Set<String> requireExisting(KafkaOptions kafka, Configuration config, List<ConfigOption<String>> options)
            throws IOException {
        Set<String> present;
        try {
            present = KafkaCliOptions.topics(kafka);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while listing the topics at " + kafka.bootstrapServers(), e);
        }
        List<String> missing = new ArrayList<>();
        for (ConfigOption<String> o : options) {
            String topic = config.get(o);
            if (!present.contains(topic)) {
                missing.add(topic + " (--" + o.key() + ")");
            }
        }
        if (!missing.isEmpty()) {
            throw new IOException("no topic " + String.join(", ", missing) + " at " + kafka.bootstrapServers()
                    + ": create it first (./crmn topics --bootstrap-servers " + kafka.bootstrapServers()
                    + " creates the default topics; ./crmn produce --topic T creates T), or name an existing one");
        }
        return present;
    }
}
