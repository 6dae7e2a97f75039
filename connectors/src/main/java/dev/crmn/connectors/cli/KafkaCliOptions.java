package dev.crmn.connectors.cli;

import dev.crmn.connectors.kafka.KafkaOptions;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/** Mixin: {@code --bootstrap-servers} and any {@code --kafka.<property>=<value>}. */
public final class KafkaCliOptions {

    @Option(names = "--bootstrap-servers", defaultValue = "localhost:9092",
            description = "Kafka bootstrap servers (default: ${DEFAULT-VALUE}). Any Kafka client property: --kafka.<property>=<value>.")
    String bootstrapServers;

    @Unmatched
    List<String> unmatched = new ArrayList<>();

    public KafkaOptions toOptions() {
        return new KafkaOptions(bootstrapServers, KafkaOptions.parse(unmatched));
    }
}
