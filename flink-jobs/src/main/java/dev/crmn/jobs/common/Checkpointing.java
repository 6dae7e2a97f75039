package dev.crmn.jobs.common;

import dev.crmn.connectors.store.ModelStore;
import java.net.URI;
import java.nio.file.Path;
import java.util.Optional;
import org.apache.flink.configuration.CheckpointingOptions;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.ConfigOptions;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/** Checkpointing of the jobs: the interval, and where checkpoints are kept. */
public final class Checkpointing {

    /** Where checkpoints go; without it the cluster's own setting applies ({@code execution.checkpointing.dir}). */
    public static final ConfigOption<String> CHECKPOINT_DIR = ConfigOptions.key("checkpoint-dir").stringType()
            .noDefaultValue().withDescription("Directory or file system URI for checkpoints (default: the cluster's"
                    + " execution.checkpointing.dir; crmn infer/finetune: runs/checkpoints). The fine-tuning job's state"
                    + " (replay reservoir, holdout) is too large for the JobManager's memory.");

    private Checkpointing() {
    }

    /** Checkpoints every {@code intervalMs}, kept in {@code dir} when given (file system storage). */
    public static void configure(StreamExecutionEnvironment env, long intervalMs, String dir) {
        env.enableCheckpointing(intervalMs);
        if (dir != null) {
            Configuration c = new Configuration();
            c.set(CheckpointingOptions.CHECKPOINT_STORAGE, "filesystem");
            c.set(CheckpointingOptions.CHECKPOINTS_DIRECTORY, ModelStore.rootUri(dir));
            env.configure(c);
        }
    }

    /**
     * Where the local runner keeps the savepoints of the job with consumer group {@code groupId}:
     * {@code <checkpoint-dir>/savepoints/<group-id>} when the checkpoint directory is a local path or {@code file:}
     * URI, else nothing.
     */
    public static Optional<Path> localSavepoints(Configuration config, String groupId) {
        String dir = config.get(CHECKPOINT_DIR);
        if (dir == null || (dir.contains("://") && !dir.startsWith("file:"))) {
            return Optional.empty();
        }
        Path root = dir.startsWith("file:") ? Path.of(URI.create(dir)) : Path.of(dir);
        return Optional.of(root.resolve("savepoints").resolve(groupId));
    }

    /** {@code config} with {@link #CHECKPOINT_DIR} set to {@code runs/checkpoints} unless given (the local runner). */
    public static Configuration withLocalDefault(Configuration config) {
        Configuration c = new Configuration(config);
        if (!c.contains(CHECKPOINT_DIR)) {
            c.set(CHECKPOINT_DIR, "runs/checkpoints");
        }
        return c;
    }
}
