package dev.crmn.jobs.demo;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.kafka.ModelRefSerializationSchema;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.util.MoreFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.common.serialization.ByteArraySerializer;
import org.deeplearning4j.nn.api.Layer;

/**
 * What the demo's {@code --bad-version-at} announces: the serving version with its output layer negated (the least
 * likely class wins: near 0 % accuracy), published as the next version and announced to serve, as a bad release
 * would be. The quality job is what takes it out of service again (docs/rollout.md).
 */
final class BrokenVersion {

    static final String WHY = "a deliberately broken version (the output layer negated), announced by crmn demo"
            + " --bad-version-at to show the automatic rollback";

    private BrokenVersion() {
    }

    /** Publishes the broken copy of {@code name}'s serving version to {@code storeUri} and announces it. */
    static ModelRef announce(String storeUri, String name, String bootstrap, String topic) throws Exception {
        ModelStore store = new ModelStore(storeUri);
        List<Long> serving = store.versionsServing(name);
        ModelRef base = serving.isEmpty() ? store.latest(name).orElseThrow()
                : store.find(name, serving.get(0)).orElseThrow();
        long next = store.latest(name).map(ModelRef::version).orElse(0L) + 1;
        Path work = Files.createTempDirectory("crmn-demo-broken");
        try {
            Checkpoints.Loaded loaded = Checkpoints.load(store.fetch(base, work.resolve("cache")), false);
            try {
                Layer out = loaded.network().getLayer(CrmnGraphBuilder.OUTPUT);
                out.setParam("W", out.getParam("W").neg());
                out.setParam("b", out.getParam("b").neg());
                Manifest m = loaded.manifest().toBuilder().version(next).parent(base.version(), base.sha256())
                        .metrics(Map.of()).build();
                Path dir = work.resolve("v" + next);
                Checkpoints.write(dir, loaded.network(), m);
                ModelRef ref = store.publish(dir);
                store.recordServing(ref, WHY);
                Properties p = new Properties();
                p.put("bootstrap.servers", bootstrap);
                try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p, new ByteArraySerializer(),
                        new ByteArraySerializer())) {
                    producer.send(ModelRefSerializationSchema.record(topic, ref)).get();
                }
                return ref;
            } finally {
                Graphs.free(loaded.network());
            }
        } finally {
            MoreFiles.deleteQuietly(work);
        }
    }
}
