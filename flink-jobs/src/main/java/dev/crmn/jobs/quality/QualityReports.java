package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.ModelQuality;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CopyOnWriteArrayList;

/**
 * The quality job's figures as they are emitted, for whoever runs it in this JVM and asks ({@code crmn quality
 * --json}, the demo, tests): kept only while a {@link Collector} is open, so a TaskManager keeps nothing.
 */
public final class QualityReports {

    private static final List<Collector> COLLECTORS = new CopyOnWriteArrayList<>();

    /** Collects the figures emitted while open: the newest per version, and every decision. */
    public static final class Collector implements AutoCloseable {
        private final Map<String, ModelQuality> latest = new LinkedHashMap<>();
        private final List<ModelQuality> decisions = new ArrayList<>();

        synchronized void add(ModelQuality q) {
            ModelQuality before = latest.put(q.key(), q);
            if (q.decision() != null && (before == null || before.decision() == null)) {
                decisions.add(q);
            }
        }

        /** The newest figures of each version, in the order versions were first seen. */
        public synchronized List<ModelQuality> latest() {
            return List.copyOf(latest.values());
        }

        /** Each version's figures when its decision was made. */
        public synchronized List<ModelQuality> decisions() {
            return List.copyOf(decisions);
        }

        @Override
        public void close() {
            COLLECTORS.remove(this);
        }
    }

    private QualityReports() {
    }

    public static Collector collect() {
        Collector c = new Collector();
        COLLECTORS.add(c);
        return c;
    }

    static void record(ModelQuality q) {
        for (Collector c : COLLECTORS) {
            c.add(q);
        }
    }
}
