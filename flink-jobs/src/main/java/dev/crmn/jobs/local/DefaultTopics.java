package dev.crmn.jobs.local;

import dev.crmn.connectors.format.Topics;
import java.io.IOException;
import java.util.List;
import java.util.Map;

/** The topics a local broker starts with (docs/wire-format.md). */
public final class DefaultTopics {

    public static final List<String> NAMES = List.of(Topics.FRAMES, Topics.FRAMES_LABELLED, Topics.PREDICTIONS,
            Topics.DEAD_LETTERS, Topics.MODEL_UPDATES);

    private DefaultTopics() {
    }

    /** Creates the default topics (existing ones are left as they are); model-updates is compacted. */
    public static void create(EmbeddedKafka kafka, int partitions) throws IOException {
        kafka.createTopic(Topics.FRAMES, partitions);
        kafka.createTopic(Topics.FRAMES_LABELLED, partitions);
        kafka.createTopic(Topics.PREDICTIONS, partitions);
        kafka.createTopic(Topics.DEAD_LETTERS, 1);
        kafka.createTopic(Topics.MODEL_UPDATES, 1, Map.of("cleanup.policy", "compact"));
    }
}
