package dev.crmn.jobs.demo;

import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import java.io.IOException;
import java.time.Duration;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.BitSet;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * What the demo shows: a reader of the committed predictions and dead letters (like any read-committed client)
 * that aggregates them for the live view and the report as they arrive. Runs on its own thread; thread-safe
 * reads.
 *
 * <p>Its memory stays bounded however long the demo runs ({@code --duration 0}): totals per model version,
 * per-{@value #BUCKET_S}-second buckets (one entry per bucket), the last {@value #RECENT} predictions for the live
 * view, a uniform sample of at most {@value #LATENCY_SAMPLE} latencies for the report's percentiles and histogram,
 * and one bit per source offset to tell a duplicate (a second committed prediction for the same Kafka record).
 */
final class DemoObserver implements Runnable {

    static final int BUCKET_S = 10;
    static final int RECENT = 500;
    static final int LATENCY_SAMPLE = 100_000;

    /** Predictions, labelled predictions and correct ones. */
    record Counts(long predictions, long labelled, long correct) {
        static final Counts NONE = new Counts(0, 0, 0);

        double accuracy() {
            return labelled == 0 ? Double.NaN : correct / (double) labelled;
        }

        Counts plus(boolean isLabelled, boolean isCorrect) {
            return new Counts(predictions + 1, labelled + (isLabelled ? 1 : 0), correct + (isCorrect ? 1 : 0));
        }
    }

    /**
     * What the report needs, copied at one moment.
     *
     * @param perVersion   totals per model version
     * @param buckets      totals per {@value #BUCKET_S} s since the start, by bucket index
     * @param latencySample end-to-end latencies (ms), sorted: all of them, or a uniform sample when there were more
     * @param maxLatencyMs the largest latency seen
     */
    record Summary(long predictions, Map<Long, Counts> perVersion, Map<Long, Counts> buckets, double[] latencySample,
                   double maxLatencyMs, Map<Long, Long> versionsFirstSeen) {
    }

    /** The live view's numbers. */
    record Live(long predictions, double perSecond, double p50Ms, double p99Ms, Map<Long, Double> recentAccuracy,
                int versions) {
    }

    private final String bootstrap;
    private final String predictionsTopic;
    private final String deadLettersTopic;
    private final String ownPrefix;
    private final long startMs;
    private final AtomicLong deadLetters = new AtomicLong();
    private final AtomicBoolean stop = new AtomicBoolean();
    private final TreeMap<Long, Long> firstSeenVersion = new TreeMap<>();
    private final Map<Long, Counts> perVersion = new TreeMap<>();
    private final Map<Long, Counts> buckets = new TreeMap<>();
    private final Map<Long, ArrayDeque<Boolean>> recentCorrect = new HashMap<>();
    private final ArrayDeque<Double> recentLatency = new ArrayDeque<>();
    private final ArrayDeque<Long> lastTenSeconds = new ArrayDeque<>();
    private final double[] latencies = new double[LATENCY_SAMPLE];
    private final SplittableRandom random = new SplittableRandom(1);
    private final Map<String, BitSet> predictedOffsets = new HashMap<>();
    private double maxLatency;
    private long predictions;
    private long duplicates;
    private long own;

    /**
     * @param ownPrefix frame id prefix of the frames the demo itself sends (counted apart from outside clients')
     * @param startMs   the demo's start (bucket 0 begins there)
     */
    DemoObserver(String bootstrap, String predictionsTopic, String deadLettersTopic, String ownPrefix, long startMs) {
        this.bootstrap = bootstrap;
        this.predictionsTopic = predictionsTopic;
        this.deadLettersTopic = deadLettersTopic;
        this.ownPrefix = ownPrefix;
        this.startMs = startMs;
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
                    Prediction pr;
                    try {
                        pr = PredictionJson.fromBytes(r.value());
                    } catch (IOException | RuntimeException e) {
                        continue; // not a prediction of this build's schema: not ours to count
                    }
                    add(pr);
                }
            }
        }
    }

    /** Counts one committed prediction. */
    synchronized void add(Prediction pr) {
        long o = pr.source().offset(); // a bit per offset, in blocks of 2^30 offsets per partition
        BitSet offsets = predictedOffsets.computeIfAbsent(pr.source().topic() + "-" + pr.source().partition() + "-"
                + (o >>> 30), k -> new BitSet());
        int offset = (int) (o & ((1 << 30) - 1));
        if (offsets.get(offset)) {
            duplicates++; // a second committed prediction for one Kafka record: exactly-once broken
            return;
        }
        offsets.set(offset);
        own += pr.frameId().startsWith(ownPrefix) ? 1 : 0;
        boolean labelled = pr.label() != null;
        boolean correct = labelled && pr.top().index() == pr.label();
        long version = pr.model().version();
        perVersion.merge(version, Counts.NONE.plus(labelled, correct), (a, one) -> a.plus(labelled, correct));
        buckets.merge(Math.max(0, (pr.producedAt() - startMs) / 1000 / BUCKET_S), Counts.NONE.plus(labelled, correct),
                (a, one) -> a.plus(labelled, correct));
        firstSeenVersion.merge(version, pr.producedAt(), Math::min);
        if (labelled) {
            keepLast(recentCorrect.computeIfAbsent(version, k -> new ArrayDeque<>()), correct, RECENT);
        }
        double latency = pr.timings().endToEnd();
        keepLast(recentLatency, latency, RECENT);
        maxLatency = Math.max(maxLatency, latency);
        if (predictions < LATENCY_SAMPLE) { // reservoir sampling: every latency equally likely to be kept
            latencies[(int) predictions] = latency;
        } else {
            long j = random.nextLong(predictions + 1);
            if (j < LATENCY_SAMPLE) {
                latencies[(int) j] = latency;
            }
        }
        predictions++;
        lastTenSeconds.addLast(pr.producedAt());
        while (!lastTenSeconds.isEmpty() && lastTenSeconds.peekFirst() < pr.producedAt() - 10_000) {
            lastTenSeconds.removeFirst();
        }
    }

    private static <T> void keepLast(ArrayDeque<T> q, T value, int n) {
        q.addLast(value);
        if (q.size() > n) {
            q.removeFirst();
        }
    }

    synchronized Summary summary() {
        double[] sample = Arrays.copyOf(latencies, (int) Math.min(predictions, LATENCY_SAMPLE));
        Arrays.sort(sample);
        return new Summary(predictions, new TreeMap<>(perVersion), new TreeMap<>(buckets), sample, maxLatency,
                new TreeMap<>(firstSeenVersion));
    }

    synchronized Live live(long nowMs) {
        double[] l = recentLatency.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        Map<Long, Double> acc = new TreeMap<>();
        for (long v : firstSeenVersion.keySet()) {
            ArrayDeque<Boolean> q = recentCorrect.get(v);
            acc.put(v, q == null || q.isEmpty() ? Double.NaN : q.stream().filter(b -> b).count() / (double) q.size());
        }
        long recent = lastTenSeconds.stream().filter(t -> t > nowMs - 10_000).count();
        return new Live(predictions, recent / 10.0, l.length == 0 ? Double.NaN : l[l.length / 2],
                l.length == 0 ? Double.NaN : l[Math.max(0, (int) Math.ceil(0.99 * l.length) - 1)], acc,
                firstSeenVersion.size());
    }

    /** Committed predictions for a Kafka record that already had one. */
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
}
