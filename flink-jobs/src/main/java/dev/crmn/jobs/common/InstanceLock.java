package dev.crmn.jobs.common;

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
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.streaming.api.datastream.DataStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
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
 * subscribed to the model-updates topic, with every assigned partition paused (it fetches nothing) and a short
 * session timeout, so a copy that was killed without closing stops counting within {@value #SESSION_TIMEOUT_MS}
 * ms. A copy that stops cleanly leaves the group at once.
 *
 * <p>Two copies started at nearly the same time both pass the check before either has joined. So the lock itself
 * is partition 0 of that topic (one partition, as {@code crmn topics} creates it): the group assigns it to one
 * member and, with the sticky assignor, leaves it with that member when another joins. A job's lock subtask
 * waits in {@code open()} until the group has given it the partition; a copy that does not get it within
 * {@value #SESSION_TIMEOUT_MS} ms plus a margin (time for a killed copy's membership to expire) fails without
 * restarts, saying why, and the copy that holds it runs on. Its Kafka sinks create no producer until their own
 * copy holds the lock ({@link JobLock#sinkGate}), so the refused copy never fences the running one's transactions.
 * A job that loses the lock while it runs (its membership expired in a long pause) fails its task and restarts.
 * The local runners take the lock in their own process before the job starts ({@link #acquireHere}), so there the
 * later copy never starts a task. With a model-updates topic of several partitions only the check before the
 * start guards.
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
        Admin admin = Admin.create(p);
        try {
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
        } finally {
            admin.close(Duration.ofSeconds(1)); // a broker that stopped answering is not waited out for a minute
        }
        if (!members.isEmpty()) {
            String where = members.stream().map(m -> m.host().replaceFirst("^/", "")).distinct()
                    .collect(Collectors.joining(", "));
            throw new IOException("another " + job + " with --group-id " + groupId + " is running against "
                    + kafka.bootstrapServers() + " (from " + where + "): two copies would each process every frame. Stop it,"
                    + " or give this one its own --group-id and --transactional-id-prefix. (A copy killed without"
                    + " stopping counts for " + SESSION_TIMEOUT_MS / 1000 + " s more.)");
        }
    }

    /** How long a starting copy waits for the lock beyond the session timeout (the group's rebalance, the broker). */
    static final int LOCK_MARGIN_MS = 10_000;

    /** Locks this process took ahead of its local job ({@link #acquireHere}), by broker and group id. */
    private static final java.util.Map<String, Holder> HELD_HERE = new java.util.concurrent.ConcurrentHashMap<>();

    private static String key(KafkaOptions kafka, String groupId) {
        return kafka.bootstrapServers() + "|" + groupId;
    }

    /**
     * Takes the lock of a job with consumer group {@code groupId} in this process, before its local job starts
     * ({@code crmn infer}, {@code crmn finetune}): then a copy that lost the race is refused before any of its
     * tasks (its Kafka sinks among them) has started, and the job's own lock subtask, in this JVM, leaves the
     * lock to this holder. Close the result once the job has ended.
     *
     * @param topic the job's model-updates topic
     * @param job   what the user started, for the message
     * @throws IOException naming the running copy when another holds the lock after the session timeout and a
     *                     margin
     */
    public static AutoCloseable acquireHere(KafkaOptions kafka, String groupId, String topic, String job)
            throws IOException, InterruptedException {
        Holder h = new Holder(kafka, groupId, topic, CLIENT_ID_PREFIX + groupId + "-local");
        switch (h.take()) {
            case HELD_ELSEWHERE -> throw new IOException("another " + job + " with --group-id " + groupId + " is running"
                    + " against " + kafka.bootstrapServers() + " (" + h.heldElsewhere(h.holder()) + "), started at nearly the same"
                    + " time as this one: two copies would each process every frame. Stop it, or give this one its own"
                    + " --group-id and --transactional-id-prefix.");
            case NOT_JOINED -> throw new IOException(h.notJoined() + " at " + kafka.bootstrapServers());
            default -> { } // taken, or unguarded (logged)
        }
        String k = key(kafka, groupId);
        HELD_HERE.put(k, h);
        return () -> {
            HELD_HERE.remove(k, h);
            h.close();
        };
    }

    /** What {@link Holder#take} came to. */
    enum Outcome {
        /** This member holds the lock. */
        TAKEN,
        /** The topic has several partitions: no lock beyond the check before the start (a warning is logged). */
        UNGUARDED,
        /** Another member holds it after the session timeout and a margin. */
        HELD_ELSEWHERE,
        /** The group never let this member in. */
        NOT_JOINED
    }

    /** Holds the membership of {@link #group} until closed. */
    public static final class Holder implements AutoCloseable {

        private final KafkaConsumer<byte[], byte[]> consumer;
        private final KafkaOptions kafka;
        private final Thread thread;
        private final TopicPartition lock;
        private final String group;
        private final boolean partitioned;
        private final Object assignment = new Object();
        private boolean owned; // guarded by assignment
        private boolean lost; // guarded by assignment
        private int rebalances; // guarded by assignment
        private volatile boolean closed;

        /**
         * Joins {@code group(groupId)}, subscribed to {@code topic} (one the job reads anyway), as client
         * {@code clientId}, on a daemon thread named {@code crmn-instance-lock-<groupId>}.
         */
        Holder(KafkaOptions kafka, String groupId, String topic, String clientId) {
            Properties p = kafka.toProperties();
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group(groupId));
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, clientId);
            this.kafka = kafka;
            p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, Integer.toString(SESSION_TIMEOUT_MS));
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, Integer.toString(SESSION_TIMEOUT_MS / 4));
            // sticky: the partition stays with the member that has it when another copy joins
            p.put(ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName());
            lock = new TopicPartition(topic, 0);
            group = group(groupId);
            consumer = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer());
            // on this thread, before the holder's own starts (the consumer is for one thread at a time)
            try {
                partitioned = consumer.partitionsFor(topic, Duration.ofSeconds(20)).size() > 1;
            } catch (RuntimeException e) {
                consumer.close(Duration.ZERO);
                throw e;
            }
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    update(partitions, false);
                }

                @Override
                public void onPartitionsLost(Collection<TopicPartition> partitions) {
                    update(partitions, false);
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    consumer.pause(partitions); // a member, not a reader
                    update(partitions, true);
                }
            });
            thread = new Thread(this::run, CLIENT_ID_PREFIX + groupId);
            thread.setDaemon(true);
            thread.start();
        }

        private void update(Collection<TopicPartition> partitions, boolean assigned) {
            synchronized (assignment) {
                if (partitions.contains(lock)) {
                    if (owned && !assigned && !closed) {
                        lost = true; // revoked for another member, or our membership expired (a long pause)
                    }
                    owned = assigned;
                }
                if (assigned) {
                    rebalances++; // called after every rebalance this member takes part in, even with nothing new
                }
                assignment.notifyAll();
            }
        }

        /**
         * Waits until this member holds the lock (partition 0 of the topic), at most the session timeout and a
         * margin; closes this holder unless the outcome is {@link Outcome#TAKEN} or {@link Outcome#UNGUARDED}, and when
         * interrupted while waiting.
         */
        Outcome take() throws InterruptedException {
            if (partitioned) {
                LOG.warn("{} has several partitions: a running copy of {} was checked for before the start, but two"
                        + " copies started together may both run", lock.topic(), group);
                return Outcome.UNGUARDED;
            }
            long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(SESSION_TIMEOUT_MS + LOCK_MARGIN_MS);
            boolean joined;
            try {
                synchronized (assignment) {
                    while (!owned) {
                        long left = deadline - System.nanoTime();
                        if (left <= 0 || closed) {
                            break;
                        }
                        TimeUnit.NANOSECONDS.timedWait(assignment, Math.min(left, TimeUnit.MILLISECONDS.toNanos(500)));
                    }
                    if (owned) {
                        return Outcome.TAKEN;
                    }
                    joined = rebalances > 0;
                }
            } catch (InterruptedException e) { // the task is cancelled, or Ctrl-C: the membership goes with it
                close();
                throw e;
            }
            close();
            return joined ? Outcome.HELD_ELSEWHERE : Outcome.NOT_JOINED;
        }

        /**
         * Whether this member held the lock and then lost it (revoked for another member, or its membership expired
         * while the process paused longer than the session timeout): from then on another copy may run.
         */
        boolean lost() {
            synchronized (assignment) {
                return lost;
            }
        }

        /** Who holds the lock when {@link #take} found it {@link Outcome#HELD_ELSEWHERE}, if the broker says. */
        java.util.Optional<MemberDescription> holder() {
            return holderOf(kafka, group, lock);
        }

        /** For messages: {@link Outcome#HELD_ELSEWHERE}, by {@code holder}. */
        String heldElsewhere(java.util.Optional<MemberDescription> holder) {
            return holder.map(m -> describe(m) + " holds " + lock + " of the consumer group " + group)
                    .orElse("another member of " + group + " held " + lock);
        }

        /** For messages: {@link Outcome#NOT_JOINED}. */
        String notJoined() {
            return "could not join the consumer group " + group + " within " + (SESSION_TIMEOUT_MS + LOCK_MARGIN_MS) / 1000
                    + " s to take the instance lock";
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

    static final String CLIENT_ID_PREFIX = "crmn-instance-lock-";

    /** How much longer than the lock subtask a sink subtask waits for its job's lock before it fails (and restarts). */
    static final int GATE_MARGIN_MS = 10_000;

    /** The member of {@code group} that {@code lock} is assigned to, if any (and if the broker says). */
    static java.util.Optional<MemberDescription> holderOf(KafkaOptions kafka, String group, TopicPartition lock) {
        Admin admin = Admin.create(kafka.toProperties());
        try {
            return holderOf(admin, group, lock);
        } catch (Exception e) { // only for a message
            if (e instanceof InterruptedException) {
                Thread.currentThread().interrupt();
            }
            return java.util.Optional.empty();
        } finally {
            admin.close(Duration.ofSeconds(1));
        }
    }

    private static java.util.Optional<MemberDescription> holderOf(Admin admin, String group, TopicPartition lock)
            throws ExecutionException, InterruptedException, TimeoutException {
        ConsumerGroupDescription d;
        try {
            d = admin.describeConsumerGroups(List.of(group)).describedGroups().get(group).get(20, TimeUnit.SECONDS);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof GroupIdNotFoundException) {
                return java.util.Optional.empty();
            }
            throw e;
        }
        return d.members().stream().filter(m -> m.assignment().topicPartitions().contains(lock)).findFirst();
    }

    private static String describe(MemberDescription m) {
        return "client " + m.clientId() + " at " + m.host().replaceFirst("^/", "");
    }

    /**
     * The instance lock of one job graph: {@link #heldBy} puts the subtask that holds it into the graph, and
     * {@link #sinkGate} holds the job's Kafka sinks back until this copy holds it. Without the gate a second copy's
     * sinks would start while its lock subtask still waits, and their first producers would abort the running
     * copy's open transactions (fencing its producers) before the second copy is refused.
     *
     * <p>Each graph holds the lock as its own client ({@code crmn-instance-lock-<group-id>-<token>}, a token drawn
     * when the graph is built): the gate looks the lock's holder up by that name, so a restarted attempt of the same
     * job recognises the membership of an earlier attempt that has not expired yet.
     */
    public static final class JobLock implements java.io.Serializable {

        private static final long serialVersionUID = 1L;

        private final KafkaOptions kafka;
        private final String groupId;
        private final String topic;
        private final String clientId;

        private JobLock(KafkaOptions kafka, String groupId, String topic, String token) {
            this.kafka = kafka;
            this.groupId = groupId;
            this.topic = topic;
            this.clientId = CLIENT_ID_PREFIX + groupId + "-" + token;
        }

        /**
         * The lock of a job with consumer group {@code groupId} whose model updates come from {@code topic} (a topic
         * every job reads; partition 0 is the lock).
         */
        public static JobLock of(KafkaOptions kafka, String groupId, String topic) {
            return new JobLock(kafka, groupId, topic,
                    Long.toHexString(new java.security.SecureRandom().nextLong() & 0xffffffffffffL));
        }

        /** The client id this graph's holder joins as. */
        String clientId() {
            return clientId;
        }

        /**
         * {@code updates} passed through one subtask that holds the job's membership of {@link #group(String)}
         * while it runs (the model updates: a stream of parallelism 1 that every job has anyway).
         */
        public <T> DataStream<T> heldBy(DataStream<T> updates) {
            return updates.transform("instance lock", updates.getType(), new HoldingOperator<T>(this))
                    .setParallelism(1).uid("instance-lock");
        }

        /** What the job's Kafka sinks wait for: this copy holding the lock (or this process, {@link #acquireHere}). */
        public dev.crmn.connectors.kafka.SinkGate sinkGate() {
            return this::awaitHeld;
        }

        private void awaitHeld(int subtask) throws Exception {
            if (HELD_HERE.containsKey(key(kafka, groupId))) {
                return;
            }
            TopicPartition lock = new TopicPartition(topic, 0);
            String group = group(groupId);
            Admin admin = Admin.create(kafka.toProperties());
            try {
                int partitions = admin.describeTopics(List.of(topic)).allTopicNames().get(20, TimeUnit.SECONDS)
                        .get(topic).partitions().size();
                if (partitions > 1) {
                    return; // unguarded: the lock subtask warns
                }
                long start = System.nanoTime();
                long deadline = start + TimeUnit.MILLISECONDS.toNanos(SESSION_TIMEOUT_MS + LOCK_MARGIN_MS + GATE_MARGIN_MS);
                while (true) {
                    java.util.Optional<MemberDescription> holder = holderOf(admin, group, lock);
                    if (holder.isPresent() && holder.get().clientId().equals(clientId)) {
                        LOG.debug("sink subtask {}: this job holds its instance lock after {} ms", subtask,
                                TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - start));
                        return;
                    }
                    if (System.nanoTime() - deadline > 0) {
                        throw new IllegalStateException("a Kafka sink of the job with --group-id " + groupId + " waited "
                                + (SESSION_TIMEOUT_MS + LOCK_MARGIN_MS + GATE_MARGIN_MS) / 1000 + " s for the job's"
                                + " instance lock (" + lock + " in the consumer group " + group + "), which "
                                + holder.map(InstanceLock::describe).orElse("no member") + " holds: it creates no"
                                + " producer before then, so that it cannot fence another copy's transactions");
                    }
                    TimeUnit.MILLISECONDS.sleep(250);
                }
            } finally {
                admin.close(Duration.ofSeconds(1));
            }
        }
    }

    /** How often the holding subtask checks that it still holds the lock. */
    static final long CHECK_INTERVAL_MS = 1_000;

    /**
     * A pass-through operator that holds the job's membership while its (single) subtask runs, and fails the task
     * when the membership loses the lock: then Flink restarts the job, which takes the lock again or, if another
     * copy took it meanwhile, stops for good, instead of two copies running on.
     */
    private static final class HoldingOperator<T> extends org.apache.flink.streaming.api.operators.AbstractStreamOperator<T>
            implements org.apache.flink.streaming.api.operators.OneInputStreamOperator<T, T> {

        private final JobLock job;
        private transient Holder holder;
        private transient java.util.concurrent.ScheduledFuture<?> check;

        HoldingOperator(JobLock job) {
            this.job = job;
        }

        @Override
        public void open() throws Exception {
            super.open();
            if (HELD_HERE.containsKey(key(job.kafka, job.groupId))) {
                LOG.info("the instance lock of --group-id {} is held by this process (taken before the job started)",
                        job.groupId);
                return;
            }
            Holder h = new Holder(job.kafka, job.groupId, job.topic, job.clientId);
            switch (h.take()) {
                case HELD_ELSEWHERE -> {
                    java.util.Optional<MemberDescription> other = h.holder();
                    if (other.isPresent() && other.get().clientId().equals(job.clientId)) {
                        // an earlier attempt of this very job whose membership has not expired: a restart tries again
                        throw new IllegalStateException("the instance lock of --group-id " + job.groupId + " is still"
                                + " held by an earlier attempt of this job (" + describe(other.get()) + ")");
                    }
                    // a restart would meet the same copy: fail the job for good, with the reason
                    throw new org.apache.flink.runtime.execution.SuppressRestartsException(
                            new IllegalStateException("another copy of this job with --group-id " + job.groupId
                                    + " is running against " + job.kafka.bootstrapServers() + " (" + h.heldElsewhere(other)
                                    + "), started at nearly the same time as this one: two copies would each process"
                                    + " every frame, so this one stops. Give it its own --group-id and"
                                    + " --transactional-id-prefix to run both."));
                }
                // a restart tries again
                case NOT_JOINED -> throw new IllegalStateException(h.notJoined() + " at " + job.kafka.bootstrapServers());
                default -> holder = h;
            }
            if (holder != null && !holder.partitioned) {
                check = getProcessingTimeService().scheduleWithFixedDelay(t -> checkHeld(), CHECK_INTERVAL_MS,
                        CHECK_INTERVAL_MS);
            }
        }

        private void checkHeld() {
            if (holder != null && holder.lost()) {
                throw new IllegalStateException("this job lost its instance lock (" + holder.lock + " of the consumer"
                        + " group " + holder.group + "; its membership expired or the partition went to another member):"
                        + " another copy may be starting, so this task fails and the job restarts, taking the lock again"
                        + " or stopping if another copy holds it");
            }
        }

        @Override
        public void processElement(org.apache.flink.streaming.runtime.streamrecord.StreamRecord<T> element) {
            output.collect(element);
        }

        @Override
        public void close() throws Exception {
            try {
                if (check != null) {
                    check.cancel(false);
                    check = null;
                }
                if (holder != null) {
                    holder.close();
                    holder = null;
                }
            } finally {
                super.close();
            }
        }
    }
}
