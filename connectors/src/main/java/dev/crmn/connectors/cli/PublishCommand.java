package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Topics;
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
        description = "Publish a checkpoint to a model store (atomic, verified; signed when a key is configured) and "
                + "optionally announce its ModelRef on the model-updates topic.")
public final class PublishCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Checkpoint directory to publish.")
    Path model;

    @Option(names = "--store", required = true, description = "Model store root URI (file:///..., s3://..., hdfs://...).")
    String store;

    @Option(names = "--signing-key-file", description = "HMAC key file; default: $CRMN_MODEL_STORE_KEY, else unsigned.")
    Path signingKeyFile;

    @Option(names = "--announce", description = "Also write the ModelRef to the model-updates topic.")
    boolean announce;

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
        ModelStore s = new ModelStore(new org.apache.flink.core.fs.Path(store), SigningKeys.resolve(signingKeyFile));
        ModelRef ref = s.publish(model);
        if (announce) {
            Properties p = kafka.toOptions(kafkaProperties).toProperties();
            p.putIfAbsent(ProducerConfig.ACKS_CONFIG, "all");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
                producer.send(ModelRefSerializationSchema.record(topic, ref)).get();
            }
        }
        if (json) {
            CliSupport.printJson(ref);
        } else {
            System.out.println("published " + ref.displayName() + " at " + ref.uri() + (announce ? " and announced it on " + topic : ""));
        }
        return 0;
    }
}
