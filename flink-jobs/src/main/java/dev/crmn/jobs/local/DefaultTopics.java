package dev.crmn.jobs.local;

import dev.crmn.connectors.format.Topics;
import dev.crmn.connectors.kafka.CrmnKafka;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.kafka.clients.admin.Admin;

/** The topics the jobs use by default (docs/wire-format.md): what a local broker starts with and `crmn topics` creates. */
public final class DefaultTopics {

    public static final List<String> NAMES = List.of(Topics.FRAMES, Topics.FRAMES_LABELLED, Topics.PREDICTIONS,
            Topics.DEAD_LETTERS, Topics.MODEL_UPDATES, Topics.LABELS, Topics.MODEL_QUALITY, Topics.SHADOW_PREDICTIONS);

    private DefaultTopics() {
    }

    /** Creates the default topics on the embedded broker (existing ones are left as they are). */
    public static void create(EmbeddedKafka kafka, int partitions) throws IOException {
        try (Admin admin = kafka.admin()) {
            create(admin, partitions, (short) 1);
        }
    }

    /**
     * Creates the default topics that do not exist yet; model-updates gets one partition and is compacted (its newest
     * record per model name is what a restarted job reads), model-quality too (its newest record per version),
     * dead-letters one partition.
     *
     * @param replication replication factor, or -1 for the broker's default
     * @return the topics created (the others existed and were left as they are)
     */
    public static List<String> create(Admin admin, int partitions, short replication) throws IOException {
        List<String> created = new ArrayList<>();
        Duration timeout = Duration.ofSeconds(30);
        for (String t : NAMES) {
            boolean compacted = t.equals(Topics.MODEL_UPDATES) || t.equals(Topics.MODEL_QUALITY);
            int p = t.equals(Topics.DEAD_LETTERS) || compacted ? 1 : partitions;
            Map<String, String> config = compacted ? Map.of("cleanup.policy", "compact") : Map.of();
            if (CrmnKafka.createTopic(admin, t, p, replication, config, timeout)) {
                created.add(t);
            }
        }
        return created;
    }
}
