package dev.crmn.connectors.cli;

import dev.crmn.connectors.kafka.KafkaOptions;
import java.util.List;
import picocli.CommandLine.Option;

/**
 * Mixin: {@code --bootstrap-servers}. Commands that use it declare an {@code @Unmatched} list (picocli does
 * not collect unmatched arguments in mixins) and pass it to {@link #toOptions(List)}, which accepts only
 * {@code --kafka.<property>=<value>} there.
 */
public final class KafkaCliOptions {

    @Option(names = "--bootstrap-servers", defaultValue = "localhost:9092",
            description = "Kafka bootstrap servers (default: ${DEFAULT-VALUE}). Any Kafka client property: --kafka.<property>=<value>.")
    String bootstrapServers;

    public KafkaOptions toOptions(List<String> unmatched) {
        return new KafkaOptions(bootstrapServers, KafkaOptions.parse(unmatched));
    }
}
