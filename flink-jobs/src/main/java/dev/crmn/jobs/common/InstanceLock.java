package dev.crmn.jobs.common;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.kafka.KafkaOptions;
import java.io.IOException;
import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.stream.Collectors;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One running copy per consumer group: a job holds a membership of the Kafka consumer group
 * {@code <group-id>-instance} for as long as it runs, and a job about to start refuses to when that group has a
 * member. Two copies of a job with the same {@code --group-id} would both read every frame (the Kafka source
 * assigns partitions itself, it does not share them through the group) and commit a prediction for each twice.
 *
 * <p>The membership is held by a {@link Holder} in the job (one subtask), on a thread of its own: a consumer
 * subscribed to a topic the job reads anyway, with every assigned partition paused (it fetches nothing) and a
 * short session timeout, so a copy that was killed without closing stops counting within
 * {@value #SESSION_TIMEOUT_MS} ms. A copy that stops cleanly leaves the group at once.
 */
public final class InstanceLock {

    static final int SESSION_TIMEOUT_MS = 10_000;
    private static final Logger LOG = LoggerFactory.getLogger(InstanceLock.class);

    private InstanceLock() {
    }

    /** The consumer group whose members are the running copies of a job with consumer group {@code groupId}. */
    public static String group(String groupId) {
        return groupId + "-instance";
    }

    /**
     * Refuses to go on when a copy of the job with consumer group {@code groupId} is running against this broker.
     *
     * @param job what the user started, for the message (e.g. {@code "inference job"})
     * @throws IOException naming the running copy and what to do, or when the broker does not answer
     */
    public static void checkNoneRunning(KafkaOptions kafka, String groupId, String job) throws IOException {
        String g = group(groupId);
        Properties p = kafka.toProperties();
        Collection<MemberDescription> members;
        try (Admin admin = Admin.create(p)) {
            ConsumerGroupDescription d = admin.describeConsumerGroups(List.of(g)).describedGroups().get(g)
                    .get(20, TimeUnit.SECONDS);
            members = d.members();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return;
            }
            throw new IOException("cannot check for a running " + job + " at " + kafka.bootstrapServers() + ": "
                    + e.getCause().getMessage(), e.getCause());
        } catch (TimeoutException e) {
            throw new IOException("cannot check for a running " + job + ": no answer from Kafka at "
                    + kafka.bootstrapServers(), e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while checking for a running " + job, e);
        }
        if (!members.isEmpty()) {
            String where = members.stream().map(m -> m.host().replaceFirst("^/", "")).distinct()
                    .collect(Collectors.joining(", "));
            throw new IOException("another " + job + " with --group-id " + groupId + " is running against "
                    + kafka.bootstrapServers() + " (from " + where + "): two copies would each predict every frame. Stop it,"
                    + " or give this one its own --group-id and --transactional-id-prefix. (A copy killed without"
                    + " stopping counts for " + SESSION_TIMEOUT_MS / 1000 + " s more.)");
        }
    }

    /** Holds the membership of {@link #group} until closed. */
    public static final class Holder implements AutoCloseable {

        private final KafkaConsumer<byte[], byte[]> consumer;
        private final Thread thread;
        private volatile boolean closed;

        /**
         * Joins {@code group(groupId)}, subscribed to {@code topic} (one the job reads anyway), on a daemon thread
         * named {@code crmn-instance-lock-<groupId>}.
         */
        public Holder(KafkaOptions kafka, String groupId, String topic) {
            Properties p = kafka.toProperties();
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group(groupId));
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, "crmn-instance-lock-" + groupId);
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Integer.toString(SESSION_TIMEOUT_MS));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(SESSION_TIMEOUT_MS / 4));
            consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    consumer.pause(partitions); // a member, not a reader
                }
            });
            thread = new Thread(this::run, "crmn-instance-lock-" + groupId);
            thread.setDaemon(true);
            thread.start();
        }

        private void run() {
            try {
                while (!closed) {
                    consumer.poll(Duration.ofSeconds(1)); // keeps the membership; paused partitions fetch nothing
                }
            } catch (WakeupException stopping) {
                // close() woke it
            } catch (RuntimeException e) {
                LOG.warn("the instance lock of this job stopped: {}", e.toString());
            } finally {
                consumer.close(Duration.ofSeconds(5)); // leaves the group: the next copy may start at once
            }
        }

        @Override
        public void close() throws InterruptedException {
            closed = true;
            consumer.wakeup();
            thread.join(10_000);
        }
    }

    /**
     * {@code updates} passed through one subtask that holds the job's membership of {@link #group(String)} while
     * it runs (the model updates: a stream of parallelism 1 that every job has anyway, read from {@code topic}).
     */
    public static DataStream<ModelRef> heldBy(DataStream<ModelRef> updates, KafkaOptions kafka, String groupId,
                                              String topic) {
        return updates.map(new HoldingFunction<ModelRef>(kafka, groupId, topic)).returns(TypeInformation.of(ModelRef.class))
                .setParallelism(1).name("instance lock").uid("instance-lock");
    }

    /** A pass-through map that holds the job's membership while its (single) subtask runs. */
    private static final class HoldingFunction<T> extends RichMapFunction<T, T> {

        private final KafkaOptions kafka;
        private final String groupId;
        private final String topic;
        private transient Holder holder;

        HoldingFunction(KafkaOptions kafka, String groupId, String topic) {
            this.kafka = kafka;
            this.groupId = groupId;
            this.topic = topic;
        }

        @Override
        public void open(OpenContext context) {
            holder = new Holder(kafka, groupId, topic);
        }

        @Override
        public T map(T value) {
            return value;
        }

        @Override
        public void close() throws Exception {
            if (holder != null) {
                holder.close();
                holder = null;
            }
        }
    }
}
