package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Topics;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.SigningKeys;
import dev.crmn.model.cli.CliSupport;
import java.nio.file.Path;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.Callable;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/** {@code crmn publish}: put a checkpoint into a model store and, optionally, announce it on model-updates. */
@Command(name = "publish", mixinStandardHelpOptions = true,
        description = {"Publish a checkpoint to a model store (atomic, verified; signed when a key is configured) and "
                + "optionally announce its ModelRef on the model-updates topic.",
                "Publishing the same checkpoint again is a no-op that returns the same reference (and, with --announce,"
                        + " announces it again): a publish or announcement that failed can simply be retried."})
public final class PublishCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Checkpoint directory to publish.")
    Path model;

    @Option(names = "--store", required = true, description = "Model store: a directory, or a file system URI (file:///..., s3://..., hdfs://...).")
    String store;

    @Option(names = "--signing-key-file", description = "HMAC key file; default: $CRMN_MODEL_STORE_KEY, else unsigned.")
    Path signingKeyFile;

    @Option(names = "--announce", description = "Also write the ModelRef to the model-updates topic.")
    boolean announce;

    @Option(names = "--shadow", description = "With --announce: announce it as a shadow, scored beside the serving version"
            + " on the same frames (its predictions to shadow-predictions only) until the quality job serves or rejects it"
            + " (docs/rollout.md).")
    boolean shadow;

    @Option(names = "--topic", defaultValue = Topics.MODEL_UPDATES, description = "Model-updates topic (default: ${DEFAULT-VALUE}).")
    String topic;

    @Mixin
    KafkaCliOptions kafka;

    @Unmatched
    List<String> kafkaProperties = new java.util.ArrayList<>();

    @Option(names = "--json", description = "Print the ModelRef as JSON.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (shadow && !announce) {
            throw new IllegalArgumentException("--shadow announces the version as a shadow: give --announce too");
        }
        ModelStore s = new ModelStore(new org.apache.flink.core.fs.Path(ModelStore.rootUri(store)), SigningKeys.resolve(signingKeyFile));
        KafkaOptions opts = announce ? kafka.toOptions(kafkaProperties) : null;
        if (announce) {
            KafkaCliOptions.checkReachable(opts); // before writing anything: fail fast, leave the store as it was
        }
        ModelRef ref = s.publish(model); // the same checkpoint again returns its existing reference
        if (announce) {
            try {
                send(opts, shadow ? ModelRefSerializationSchema.record(topic, dev.crmn.connectors.format.ModelUpdate.shadow(ref,
                        "announced as a shadow by crmn publish --announce --shadow")) : ModelRefSerializationSchema.record(topic, ref));
            } catch (java.io.IOException e) {
                throw new java.io.IOException("published " + ref.displayName() + " at " + ref.uri() + " but could not announce it"
                        + " on " + topic + ": " + e.getMessage() + " (run the same command again to announce it)");
            }
            if (shadow) {
                s.recordStatus(ref, dev.crmn.connectors.store.ModelStatus.SHADOW, "announced as a shadow on " + topic
                        + " by crmn publish --announce --shadow");
            } else {
                s.recordServing(ref, "announced on " + topic + " by crmn publish --announce");
            }
        }
        if (json) {
            CliSupport.printJson(ref);
        } else {
            System.out.println("published " + ref.displayName() + " at " + ref.uri() + (announce ? " and announced it"
                    + (shadow ? " as a shadow" : "") + " on " + topic : ""));
        }
        return 0;
    }

    /** Writes one model-updates record and waits for the broker to have it (what publish and rollback announce). */
    static void send(KafkaOptions opts, org.apache.kafka.clients.producer.ProducerRecord<byte[], byte[]> record)
            throws java.io.IOException, InterruptedException {
        Properties p = opts.toProperties();
        p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
        p.putIfAbsent(ProducerConfig.MAX_BLOCK_MS_CONFIG, "15000");
        p.putIfAbsent(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, "30000");
        p.putIfAbsent(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "15000");
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
            producer.send(record).get();
        } catch (java.util.concurrent.ExecutionException e) {
            throw new java.io.IOException(e.getCause().getMessage(), e.getCause());
        }
    }
}
