package dev.crmn.jobs.local;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * What the demo shows: a reader of the committed predictions and dead letters (like any read-committed client),
 * keeping per-prediction facts for the live view and the report. Runs on its own thread; thread-safe reads.
 */
final class DemoObserver implements Runnable {

    /** One committed prediction, as the report needs it. */
    record Seen(long producedAt, double latencyMs, long version, boolean labelled, boolean correct) {
    }

    private final String bootstrap;
    private final String predictionsTopic;
    private final String deadLettersTopic;
    private final List<Seen> seen = new ArrayList<>();
    private final AtomicLong deadLetters = new AtomicLong();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final TreeMap<Long, Long> firstSeenVersion = new TreeMap<>();
    private final String ownPrefix;
    private final java.util.Set<String> frameIds = new java.util.HashSet<>();
    private long duplicates;
    private long own;

    /** @param ownPrefix frame id prefix of the frames the demo itself sends (counted apart from outside clients') */
    DemoObserver(String bootstrap, String predictionsTopic, String deadLettersTopic, String ownPrefix) {
        this.bootstrap = bootstrap;
        this.predictionsTopic = predictionsTopic;
        this.deadLettersTopic = deadLettersTopic;
        this.ownPrefix = ownPrefix;
    }

    void stop() {
        stop.set(true);
    }

    @Override
    public void run() {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(p, new ByteArrayDeserializer(), new ByteArrayDeserializer())) {
            List<TopicPartition> parts = new ArrayList<>();
            for (String t : List.of(predictionsTopic, deadLettersTopic)) {
                c.partitionsFor(t).forEach(i -> parts.add(new TopicPartition(t, i.partition())));
            }
            c.assign(parts);
            c.seekToBeginning(parts);
            while (!stop.get()) {
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(200))) {
                    if (r.topic().equals(deadLettersTopic)) {
                        deadLetters.incrementAndGet();
                        continue;
                    }
                    try {
                        Prediction pr = PredictionJson.fromBytes(r.value());
                        boolean labelled = pr.label() != null;
                        synchronized (this) {
                            if (!frameIds.add(pr.frameId())) {
                                duplicates++; // a second committed prediction for a frame: exactly-once broken
                                continue;
                            }
                            own += pr.frameId().startsWith(ownPrefix) ? 1 : 0;
                            seen.add(new Seen(pr.producedAt(), pr.timings().endToEnd(), pr.model().version(), labelled,
                                    labelled && pr.top().index() == pr.label()));
                            firstSeenVersion.merge(pr.model().version(), pr.producedAt(), Math::min);
                        }
                    } catch (IOException | RuntimeException e) {
                        // not a prediction of this build's schema: not ours to count
                    }
                }
            }
        }
    }

    synchronized List<Seen> snapshot() {
        return List.copyOf(seen);
    }

    /** Committed predictions for a frame that already had one. */
    synchronized long duplicates() {
        return duplicates;
    }

    /** Distinct frames of the demo's own stream that have a committed prediction. */
    synchronized long ownPredicted() {
        return own;
    }

    long deadLetters() {
        return deadLetters.get();
    }

    /** Model version to the time (ms) its first committed prediction was made. */
    synchronized Map<Long, Long> versionsFirstSeen() {
        return new TreeMap<>(firstSeenVersion);
    }

    /** p50, p99 of the end-to-end latency of the last {@code n} predictions (NaN when none). */
    static double[] latency(List<Seen> s, int n) {
        double[] l = s.subList(Math.max(0, s.size() - n), s.size()).stream().mapToDouble(Seen::latencyMs).sorted().toArray();
        if (l.length == 0) {
            return new double[]{Double.NaN, Double.NaN};
        }
        return new double[]{l[l.length / 2], l[Math.max(0, (int) Math.ceil(0.99 * l.length) - 1)]};
    }

    /** Accuracy of the labelled predictions among the last {@code n} made by {@code version} (NaN when none). */
    static double accuracy(List<Seen> s, long version, int n) {
        List<Seen> v = s.stream().filter(x -> x.version() == version && x.labelled()).toList();
        List<Seen> last = v.subList(Math.max(0, v.size() - n), v.size());
        return last.isEmpty() ? Double.NaN : last.stream().filter(Seen::correct).count() / (double) last.size();
    }
}
