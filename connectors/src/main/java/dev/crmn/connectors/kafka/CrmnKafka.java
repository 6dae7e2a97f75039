package dev.crmn.connectors.kafka;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Prediction;
import java.util.List;
import java.util.Properties;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.kafka.clients.consumer.OffsetResetStrategy;

/**
 * Kafka sources and sinks for the project's topics, built on flink-connector-kafka with the user's
 * {@link KafkaOptions} (any client property) applied to every client.
 *
 * <pre>{@code
 * KafkaOptions kafka = KafkaOptions.of("localhost:9092");
 * KafkaSource<Frame> frames = CrmnKafka.frameSource(kafka, List.of("frames"), "crmn-inference",
 *         OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST));
 * KafkaSink<Prediction> predictions = CrmnKafka.predictionSink(kafka, "predictions",
 *         DeliveryGuarantee.EXACTLY_ONCE, "crmn-predictions");
 * }</pre>
 */
public final class CrmnKafka {

    /** Producer transaction timeout: below the broker's default transaction.max.timeout.ms (15 min). */
    public static final String DEFAULT_TRANSACTION_TIMEOUT_MS = "600000";

    private CrmnKafka() {
    }

    /** Frames, kept raw (decoding and dead-lettering happen downstream). */
    public static KafkaSource<Frame> frameSource(KafkaOptions kafka, List<String> topics, String groupId,
                                                 OffsetsInitializer start) {
        return KafkaSource.<Frame>builder()
                .setBootstrapServers(kafka.bootstrapServers())
                .setProperties(sourceProperties(kafka))
                .setTopics(topics)
                .setGroupId(groupId)
                .setStartingOffsets(start)
                .setDeserializer(new FrameDeserializationSchema())
                .build();
    }

    /** Frames from the committed offsets of {@code groupId}, or from the earliest when it has none. */
    public static KafkaSource<Frame> frameSource(KafkaOptions kafka, List<String> topics, String groupId) {
        return frameSource(kafka, topics, groupId, OffsetsInitializer.committedOffsets(OffsetResetStrategy.EARLIEST));
    }

    /** Model updates from the (compacted) model-updates topic, from the beginning. */
    public static KafkaSource<dev.crmn.connectors.format.ModelUpdate> modelUpdatesSource(KafkaOptions kafka, String topic,
                                                                                       String groupId) {
        return KafkaSource.<dev.crmn.connectors.format.ModelUpdate>builder()
                .setBootstrapServers(kafka.bootstrapServers())
                .setProperties(sourceProperties(kafka))
                .setTopics(topic)
                .setGroupId(groupId)
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setDeserializer(new ModelUpdateDeserializationSchema())
                .build();
    }

    public static KafkaSink<Prediction> predictionSink(KafkaOptions kafka, String topic, DeliveryGuarantee guarantee,
                                                       String transactionalIdPrefix) {
        return predictionSink(kafka, topic, guarantee, transactionalIdPrefix, SinkGate.OPEN);
    }

    /** A predictions sink whose subtasks create no producer before {@code gate} opens. */
    public static KafkaSink<Prediction> predictionSink(KafkaOptions kafka, String topic, DeliveryGuarantee guarantee,
                                                       String transactionalIdPrefix, SinkGate gate) {
        return sink(kafka, new GatedSerializationSchema<>(new PredictionSerializationSchema(topic), gate), guarantee,
                transactionalIdPrefix);
    }

    public static KafkaSink<DeadLetter> deadLetterSink(KafkaOptions kafka, String topic, DeliveryGuarantee guarantee,
                                                       String transactionalIdPrefix) {
        return deadLetterSink(kafka, topic, guarantee, transactionalIdPrefix, SinkGate.OPEN);
    }

    /** A dead-letters sink whose subtasks create no producer before {@code gate} opens. */
    public static KafkaSink<DeadLetter> deadLetterSink(KafkaOptions kafka, String topic, DeliveryGuarantee guarantee,
                                                       String transactionalIdPrefix, SinkGate gate) {
        return sink(kafka, new GatedSerializationSchema<>(new DeadLetterSerializationSchema(topic), gate), guarantee,
                transactionalIdPrefix);
    }

    public static KafkaSink<ModelRef> modelUpdatesSink(KafkaOptions kafka, String topic, DeliveryGuarantee guarantee,
                                                       String transactionalIdPrefix) {
        return modelUpdatesSink(kafka, topic, guarantee, transactionalIdPrefix, SinkGate.OPEN);
    }

    /** A model-updates sink whose subtasks create no producer before {@code gate} opens. */
    public static KafkaSink<ModelRef> modelUpdatesSink(KafkaOptions kafka, String topic, DeliveryGuarantee guarantee,
                                                       String transactionalIdPrefix, SinkGate gate) {
        return sink(kafka, new GatedSerializationSchema<>(new ModelRefSerializationSchema(topic), gate), guarantee,
                transactionalIdPrefix);
    }

    /** A sink of model updates (serve, rollback) whose subtasks create no producer before {@code gate} opens. */
    public static KafkaSink<dev.crmn.connectors.format.ModelUpdate> modelUpdateSink(KafkaOptions kafka, String topic,
            DeliveryGuarantee guarantee, String transactionalIdPrefix, SinkGate gate) {
        return sink(kafka, new GatedSerializationSchema<>(new ModelUpdateSerializationSchema(topic), gate), guarantee,
                transactionalIdPrefix);
    }

    /** A sink of the quality job's figures whose subtasks create no producer before {@code gate} opens. */
    public static KafkaSink<dev.crmn.connectors.format.ModelQuality> modelQualitySink(KafkaOptions kafka, String topic,
            DeliveryGuarantee guarantee, String transactionalIdPrefix, SinkGate gate) {
        return sink(kafka, new GatedSerializationSchema<>(new ModelQualitySerializationSchema(topic), gate), guarantee,
                transactionalIdPrefix);
    }

    private static <T> KafkaSink<T> sink(KafkaOptions kafka, KafkaRecordSerializationSchema<T> schema,
                                         DeliveryGuarantee guarantee, String transactionalIdPrefix) {
        Properties p = producerProperties(kafka);
        var b = KafkaSink.<T>builder()
                .setBootstrapServers(kafka.bootstrapServers())
                .setKafkaProducerConfig(p)
                .setRecordSerializer(schema)
                .setDeliveryGuarantee(guarantee);
        if (guarantee == DeliveryGuarantee.EXACTLY_ONCE) {
            if (transactionalIdPrefix == null || transactionalIdPrefix.isBlank()) {
                throw new IllegalArgumentException("an exactly-once sink needs a transactional id prefix");
            }
            b.setTransactionalIdPrefix(transactionalIdPrefix);
            b.setTransactionNamingStrategy(org.apache.flink.connector.kafka.sink.TransactionNamingStrategy.POOLING);
        }
        return b.build();
    }

    /** Consumer properties: the user's, minus the bootstrap servers (set separately). */
    public static Properties consumerProperties(KafkaOptions kafka) {
        Properties p = kafka.toProperties();
        p.remove("bootstrap.servers");
        return p;
    }

    /**
     * A source's consumer properties: the user's, and {@code isolation.level=read_committed} always, so that records
     * of an aborted or still-open upstream transaction (an exactly-once producer: Flink, Kafka Streams, a
     * transactional client) are never read; Kafka's client default, {@code read_uncommitted}, would read them.
     */
    public static Properties sourceProperties(KafkaOptions kafka) {
        Properties p = consumerProperties(kafka);
        p.put("isolation.level", "read_committed");
        return p;
    }

    /** Producer properties: the user's, with a transaction timeout the broker accepts unless the user set one. */
    public static Properties producerProperties(KafkaOptions kafka) {
        Properties p = consumerProperties(kafka);
        p.putIfAbsent("transaction.timeout.ms", DEFAULT_TRANSACTION_TIMEOUT_MS);
        return p;
    }

    /** What the sinks' serialization schemas tell the connector of the one topic they write (pooled transactional ids). */
    static java.util.Optional<org.apache.flink.connector.kafka.lineage.KafkaDatasetFacet> facet(String topic) {
        return java.util.Optional.of(new org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetFacet(
                org.apache.flink.connector.kafka.lineage.DefaultKafkaDatasetIdentifier.ofTopics(List.of(topic))));
    }

    /** The id of the Kafka cluster {@code kafka} reaches (a broker must answer within 15 s). */
    public static String clusterId(KafkaOptions kafka) throws java.io.IOException {
        try (org.apache.kafka.clients.admin.Admin admin = org.apache.kafka.clients.admin.Admin.create(kafka.toProperties())) {
            return admin.describeCluster().clusterId().get(15, java.util.concurrent.TimeUnit.SECONDS);
        } catch (java.util.concurrent.ExecutionException | java.util.concurrent.TimeoutException e) {
            throw new java.io.IOException("cannot ask " + kafka.bootstrapServers() + " for its cluster id: " + e, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.IOException("interrupted", e);
        }
    }

    /**
     * Creates a topic through {@code admin} unless it exists (replication factor {@code replication}; -1 = the
     * broker's default), and returns once the broker lists it: a KRaft broker learns of a new topic from its
     * controller a moment after {@code createTopics} returns, and a job planned in that moment (which checks that its
     * topics exist) was told there was no such topic (seen in CI, the topic created the line before).
     *
     * @return whether this call created it
     * @throws java.io.IOException if the broker refuses, or does not create and list it within {@code timeout}
     */
    public static boolean createTopic(org.apache.kafka.clients.admin.Admin admin, String name, int partitions,
                                      short replication, java.util.Map<String, String> config,
                                      java.time.Duration timeout) throws java.io.IOException {
        long deadline = System.nanoTime() + timeout.toNanos();
        boolean created;
        try {
            admin.createTopics(List.of(new org.apache.kafka.clients.admin.NewTopic(name, partitions, replication)
                    .configs(config))).all().get(timeout.toMillis(), java.util.concurrent.TimeUnit.MILLISECONDS);
            created = true;
        } catch (java.util.concurrent.ExecutionException e) {
            if (!(e.getCause() instanceof org.apache.kafka.common.errors.TopicExistsException)) {
                throw new java.io.IOException("cannot create topic " + name + ": " + e.getCause().getMessage(), e.getCause());
            }
            created = false;
        } catch (java.util.concurrent.TimeoutException e) {
            throw new java.io.IOException("the broker did not create topic " + name + " within " + timeout.toSeconds() + " s", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.IOException("interrupted while creating topic " + name, e);
        }
        awaitListed(admin, name, deadline, timeout);
        return created;
    }

    /** Polls the broker's topic list (20 ms, doubling to 500 ms) until it holds {@code name}, until {@code deadline}. */
    private static void awaitListed(org.apache.kafka.clients.admin.Admin admin, String name, long deadline,
                                    java.time.Duration timeout) throws java.io.IOException {
        long pauseMs = 20;
        try {
            while (true) {
                long left = Math.max(1, (deadline - System.nanoTime()) / 1_000_000);
                if (admin.listTopics().names().get(left, java.util.concurrent.TimeUnit.MILLISECONDS).contains(name)) {
                    return;
                }
                if (System.nanoTime() >= deadline) {
                    break;
                }
                Thread.sleep(Math.min(pauseMs, left)); // polling the broker's metadata, bounded by the deadline
                pauseMs = Math.min(pauseMs * 2, 500);
            }
        } catch (java.util.concurrent.ExecutionException e) {
            throw new java.io.IOException("cannot list the topics after creating " + name + ": " + e.getCause().getMessage(),
                    e.getCause());
        } catch (java.util.concurrent.TimeoutException e) {
            // fall through to the message below
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new java.io.IOException("interrupted while waiting for topic " + name + " to be listed", e);
        }
        throw new java.io.IOException("topic " + name + " was created, but the broker did not list it within "
                + timeout.toSeconds() + " s");
    }
}
