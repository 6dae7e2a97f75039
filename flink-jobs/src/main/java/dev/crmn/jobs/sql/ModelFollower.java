package dev.crmn.jobs.sql;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.kafka.KafkaOptions;
import dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema;
import java.io.IOException;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.function.Consumer;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Follows a model-updates topic for one model on a thread of its own: reads the (compacted) topic from its start
 * to its end first and reports only the last serve/rollback record found there (one load, not one per record of
 * the history), then reports each new one as it comes. Shadow records name no serving version and are skipped, as
 * are unreadable records. A plain consumer without a group: nothing is committed; a restarted function reads the
 * topic again and so starts from the version announced last.
 */
final class ModelFollower implements AutoCloseable {

    private static final Logger LOG = LoggerFactory.getLogger(ModelFollower.class);

    private final KafkaConsumer<byte[], byte[]> consumer;
    private final String topic;
    private final String model;
    private final Consumer<ModelRef> onAnnounced;
    private final Thread thread;
    private volatile boolean stopped;

    /**
     * @param onAnnounced called on the follower's thread with each version announced to serve (it may load it there)
     * @param setup       run first on the follower's thread (thread-local settings for loading models)
     */
    ModelFollower(String bootstrapServers, String topic, String model, Runnable setup, Consumer<ModelRef> onAnnounced,
                  ClassLoader userCode) {
        Properties p = KafkaOptions.of(bootstrapServers).toProperties();
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        this.consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
        this.topic = topic;
        this.model = model;
        this.onAnnounced = onAnnounced;
        this.thread = new Thread(() -> {
            setup.run();
            follow();
        }, "crmn-sql-follow-" + topic);
        thread.setDaemon(true);
        thread.setContextClassLoader(userCode);
    }

    private boolean started;

    synchronized void start() {
        started = true;
        thread.start();
    }

    private void follow() {
        try {
            List<TopicPartition> parts = partitions();
            if (parts == null) {
                return;
            }
            consumer.assign(parts);
            consumer.seekToBeginning(parts);
            Map<TopicPartition, Long> end = consumer.endOffsets(parts);
            ModelRef last = null;
            while (!stopped && parts.stream().anyMatch(tp -> consumer.position(tp) < end.get(tp))) {
                last = newest(last);
            }
            LOG.info("followed {} to its end: {}", topic, last == null ? "no version of " + model + " announced"
                    : last.displayName() + " announced last");
            if (last != null) {
                onAnnounced.accept(last);
            }
            while (!stopped) {
                ModelRef r = newest(null);
                if (r != null) {
                    onAnnounced.accept(r);
                }
            }
        } catch (WakeupException e) {
            // closing
        } catch (RuntimeException e) {
            LOG.error("stopped following {}: {}", topic, e.toString(), e);
        } finally {
            consumer.close(Duration.ZERO);
        }
    }

    /** The topic's partitions, waiting for the topic to exist (null when stopped meanwhile). */
    private List<TopicPartition> partitions() {
        long warned = 0;
        while (!stopped) {
            try {
                List<TopicPartition> parts = consumer.partitionsFor(topic, Duration.ofSeconds(10)).stream()
                        .map(i -> new TopicPartition(topic, i.partition())).toList();
                if (!parts.isEmpty()) {
                    return parts;
                }
            } catch (org.apache.kafka.common.errors.TimeoutException e) {
                // fall through to the warning
            }
            if (System.nanoTime() - warned > Duration.ofMinutes(1).toNanos()) {
                LOG.warn("cannot follow {}: the topic does not exist or no broker answers; trying again", topic);
                warned = System.nanoTime();
            }
        }
        return null;
    }

    /** One poll: the last serve/rollback record of the model in it, else {@code last}. */
    private ModelRef newest(ModelRef last) {
        for (ConsumerRecord<byte[], byte[]> r : consumer.poll(Duration.ofMillis(500))) {
            if (r.value() == null) {
                continue;
            }
            try {
                ModelUpdate u = ModelUpdateDeserializationSchema.parse(r);
                if (u.action().namesServingVersion() && u.ref().name().equals(model)) {
                    last = u.ref();
                }
            } catch (IOException e) {
                LOG.warn("skipping an unreadable model update at {}-{}-{}: {}", r.topic(), r.partition(), r.offset(),
                        e.getMessage());
            }
        }
        return last;
    }

    /** Stops following and waits for the thread (a load under way finishes first). */
    @Override
    public synchronized void close() throws InterruptedException {
        stopped = true;
        if (!started) {
            consumer.close(Duration.ZERO);
            return;
        }
        consumer.wakeup();
        thread.join(Duration.ofMinutes(1).toMillis());
    }
}
