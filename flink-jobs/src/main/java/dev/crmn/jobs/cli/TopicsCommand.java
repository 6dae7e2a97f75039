package dev.crmn.jobs.cli;

import dev.crmn.jobs.local.DefaultTopics;
import dev.crmn.connectors.cli.KafkaCliOptions;
import dev.crmn.connectors.kafka.KafkaOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.admin.Admin;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/** {@code crmn topics}: the jobs' default topics on any broker (what {@code crmn broker} creates on its own). */
@Command(name = "topics", mixinStandardHelpOptions = true, description = "Create the default topics (frames,"
        + " frames-labelled, predictions, dead-letters, labels, shadow-predictions; model-updates and model-quality"
        + " compacted) and any --create topics on a Kafka broker; topics that exist are left as they are.")
public final class TopicsCommand implements Callable<Integer> {

    @Mixin
    KafkaCliOptions kafka;

    @Option(names = "--partitions", defaultValue = "2", description = "Partitions of frames, frames-labelled and"
            + " predictions (default: ${DEFAULT-VALUE}; dead-letters and model-updates get one).")
    int partitions;

    @Option(names = "--replication-factor", defaultValue = "-1",
            description = "Replication factor (default: the broker's default.replication.factor).")
    short replication;

    @Option(names = "--create", split = ",", paramLabel = "TOPIC", description = "Also create these topics (--partitions"
            + " partitions each), e.g. the sink topics of a crmn sql script.")
    List<String> extra = new ArrayList<>();

    @Unmatched
    List<String> unmatched = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        if (partitions < 1) {
            throw new IllegalArgumentException("--partitions must be >= 1, got " + partitions);
        }
        KafkaOptions opts = kafka.toOptions(unmatched);
        KafkaCliOptions.checkReachable(opts);
        List<String> created;
        try (Admin admin = Admin.create(opts.toProperties())) {
            created = new ArrayList<>(DefaultTopics.create(admin, partitions, replication));
            for (String t : extra) {
                if (dev.crmn.connectors.kafka.CrmnKafka.createTopic(admin, t, partitions, replication, java.util.Map.of(),
                        java.time.Duration.ofSeconds(30))) {
                    created.add(t);
                }
            }
        }
        List<String> all = new ArrayList<>(DefaultTopics.NAMES);
        all.addAll(extra);
        for (String t : all) {
            System.out.println(t + (created.contains(t) ? " created" : " exists"));
        }
        return 0;
    }
}
