package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.format.Topics;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStatus;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import java.io.IOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * {@code crmn rollback}: by hand, what the quality job will decide by itself (issue #21): the serving version is
 * marked {@code rolled-back} in the store (never served or adopted again), the older version becomes
 * {@code serving}, and a rollback is announced on model-updates, which the running jobs follow at once.
 */
@Command(name = "rollback", mixinStandardHelpOptions = true,
        description = {"Roll a model back to an older published version: the store records the serving version as",
                "rolled-back (never served again) and --to as serving, and the rollback is announced on model-updates",
                "(the inference job swaps back within seconds; the fine-tuning job rebases on it)."})
public final class RollbackCommand implements Callable<Integer> {

    @Option(names = "--store", required = true, description = "Model store: a directory, or a file system URI.")
    String store;

    @Option(names = "--name", required = true, description = "Model name.")
    String name;

    @Option(names = "--to", required = true, description = "The older version to serve again.")
    long to;

    @Option(names = "--from", description = "The version rolled back (default: the one whose status is serving).")
    Long from;

    @Option(names = "--reason", defaultValue = "rolled back by hand (crmn rollback)", description = "Why, recorded and announced.")
    String reason;

    @Option(names = "--signing-key-file", description = "HMAC key file; default: $CRMN_MODEL_STORE_KEY, else unsigned.")
    Path signingKeyFile;

    @Option(names = "--topic", defaultValue = Topics.MODEL_UPDATES, description = "Model-updates topic (default: ${DEFAULT-VALUE}).")
    String topic;

    @Option(names = "--json", description = "Print what was recorded and announced as JSON.")
    boolean json;

    @Mixin
    KafkaCliOptions kafka;

    @Unmatched
    List<String> kafkaProperties = new java.util.ArrayList<>();

    @Override
    public Integer call() throws Exception {
        ModelStore s = new ModelStore(new org.apache.flink.core.fs.Path(ModelStore.rootUri(store)), SigningKeys.resolve(signingKeyFile));
        ModelRef target = s.find(name, to).orElseThrow(() -> new IOException("no published v" + to + " of " + name
                + " in " + store + " (crmn models --store " + store + " --name " + name + " lists them)"));
        s.verify(target);
        ModelRef bad = from != null ? s.find(name, from).orElseThrow(() -> new IOException("no published v" + from + " of "
                + name + " in " + store)) : serving(s);
        if (bad.version() <= to) {
            throw new IllegalArgumentException("a rollback goes back to an older version: v" + bad.version()
                    + " (serving) is not newer than --to " + to);
        }
        KafkaOptions opts = kafka.toOptions(kafkaProperties);
        KafkaCliOptions.checkReachable(opts); // before recording anything
        // the store first: a job that restarts after the announcement must find the mark
        ModelStatus.Change mark = s.recordRollback(bad, target, reason);
        try {
            PublishCommand.send(opts, ModelRefSerializationSchema.record(topic, ModelUpdate.rollback(target, bad.version(), reason)));
        } catch (IOException e) {
            throw new IOException("recorded the rollback of " + bad.displayName() + " in the store but could not announce it on "
                    + topic + ": " + e.getMessage() + " (run again with --from " + bad.version() + ")");
        }
        if (json) {
            dev.crmn.model.cli.CliSupport.printJson(Map.of("rolled_back", bad.version(), "serving", target.version(), "reason", reason,
                    "at", mark.at(), "topic", topic));
        } else {
            System.out.printf("rolled %s back to v%d (%s); recorded in %s and announced on %s%n", bad.displayName(), to,
                    reason, store, topic);
        }
        return 0;
    }

    /** The version whose status is serving now (the newest such, should several say so). */
    private ModelRef serving(ModelStore s) throws IOException {
        for (long v : s.versionsServing(name)) {
            var ref = s.find(name, v);
            if (ref.isPresent()) {
                return ref.get();
            }
        }
        throw new IOException("no version of " + name + " is recorded as serving in " + store + ": name it with --from");
    }
}
