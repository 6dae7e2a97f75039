package dev.crmn.it.testutil;

import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ConcurrentHashMap;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Gauge;
import org.apache.flink.metrics.Metric;
import org.apache.flink.metrics.MetricConfig;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.metrics.reporter.MetricReporter;
import org.apache.flink.metrics.reporter.MetricReporterFactory;

/**
 * A Flink metric reporter that keeps every metric of the MiniClusters in this JVM in a map, so tests can read
 * what an operator reported (the same metrics any reporter or the web UI shows).
 */
public final class InMemoryMetrics implements MetricReporter {

    private static final Map<String, Metric> METRICS = new ConcurrentHashMap<>();

    /** Flink settings that install this reporter. */
    public static Configuration config() {
        Configuration c = new Configuration();
        c.setString("metrics.reporter.mem.factory.class", Factory.class.getName());
        return c;
    }

    /** The sum of every counter or numeric gauge whose identifier ends with {@code .<name>} and contains {@code scope}. */
    public static long sum(String scope, String name) {
        long total = 0;
        for (Map.Entry<String, Metric> e : METRICS.entrySet()) {
            if (e.getKey().endsWith("." + name) && e.getKey().contains(scope)) {
                if (e.getValue() instanceof Counter c) {
                    total += c.getCount();
                } else if (e.getValue() instanceof Gauge<?> g && g.getValue() instanceof Number n) {
                    total += n.longValue();
                }
            }
        }
        return total;
    }

    /** Values of the gauges whose identifier ends with {@code .<name>}. */
    public static java.util.List<Object> gauges(String name) {
        return METRICS.entrySet().stream().filter(e -> e.getKey().endsWith("." + name) && e.getValue() instanceof Gauge<?>)
                .map(e -> (Object) ((Gauge<?>) e.getValue()).getValue()).toList();
    }

    public static void clear() {
        METRICS.clear();
    }

    @Override
    public void open(MetricConfig config) {
    }

    @Override
    public void close() {
    }

    @Override
    public void notifyOfAddedMetric(Metric metric, String metricName, MetricGroup group) {
        METRICS.put(group.getMetricIdentifier(metricName), metric);
    }

    @Override
    public void notifyOfRemovedMetric(Metric metric, String metricName, MetricGroup group) {
        METRICS.remove(group.getMetricIdentifier(metricName), metric);
    }

    /** Creates the reporter (configured by class name). */
    public static final class Factory implements MetricReporterFactory {
        @Override
        public MetricReporter createMetricReporter(Properties properties) {
            return new InMemoryMetrics();
        }
    }
}
