package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.FrameRejectedException;
import dev.crmn.connectors.format.Headers;
import dev.crmn.connectors.format.Prediction;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * Joins predictions with the labels their frames carried (by source topic, partition and offset) and
 * computes accuracy overall and per model version, throughput, latency percentiles and duplicates.
 * Not thread-safe.
 */
public final class Scorer {

    private final Map<String, String> labelByFrame = new HashMap<>();
    private final List<Prediction> predictions = new ArrayList<>();
    private int unreadable;

    /** Remembers the label header of a frame. */
    public void addFrame(Frame f) {
        String label = f.header(Headers.LABEL);
        if (label != null) {
            labelByFrame.put(f.coordinates(), label);
        }
    }

    public void addPrediction(Prediction p) {
        predictions.add(p);
    }

    public void addUnreadable() {
        unreadable++;
    }

    public int predictions() {
        return predictions.size();
    }

    /** The report; {@code labels} are the model's class names (to resolve labels sent as names). */
    public Map<String, Object> report(List<String> labels) {
        List<String> classNames = labels == null ? List.of() : labels;
        Map<String, int[]> perModel = new java.util.TreeMap<>(java.util.Comparator.comparing(Scorer::modelSortKey)); // name vN -> {count, labelled, correct}
        Set<String> seen = new HashSet<>();
        int duplicates = 0, labelled = 0, correct = 0;
        double[] latency = new double[predictions.size()];
        long first = Long.MAX_VALUE, last = Long.MIN_VALUE;
        for (int i = 0; i < predictions.size(); i++) {
            Prediction p = predictions.get(i);
            String coords = p.source().topic() + "-" + p.source().partition() + "-" + p.source().offset();
            if (!seen.add(coords)) {
                duplicates++;
            }
            String model = p.model().name() + " v" + p.model().version();
            int[] m = perModel.computeIfAbsent(model, k -> new int[3]);
            m[0]++;
            Integer truth = truth(coords, p, classNames);
            if (truth != null) {
                labelled++;
                m[1]++;
                if (p.top().index() == truth) {
                    correct++;
                    m[2]++;
                }
            }
            latency[i] = p.timings() == null ? Double.NaN : p.timings().endToEnd();
            first = Math.min(first, p.producedAt());
            last = Math.max(last, p.producedAt());
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("predictions", predictions.size());
        doc.put("unreadable", unreadable);
        doc.put("duplicates", duplicates);
        doc.put("labelled", labelled);
        doc.put("accuracy", labelled == 0 ? null : (double) correct / labelled);
        Map<String, Object> models = new LinkedHashMap<>();
        for (Map.Entry<String, int[]> e : perModel.entrySet()) {
            int[] m = e.getValue();
            models.put(e.getKey(), Map.of("predictions", m[0], "labelled", m[1],
                    "accuracy", m[1] == 0 ? Double.NaN : (double) m[2] / m[1]));
        }
        doc.put("per_model", models);
        double span = (last - first) / 1000.0;
        doc.put("throughput_per_s", predictions.size() < 2 || span <= 0 ? null : (predictions.size() - 1) / span);
        double[] l = Arrays.stream(latency).filter(Double::isFinite).sorted().toArray();
        Map<String, Object> lat = new LinkedHashMap<>();
        if (l.length > 0) {
            lat.put("p50", percentile(l, 50));
            lat.put("p90", percentile(l, 90));
            lat.put("p99", percentile(l, 99));
            lat.put("max", l[l.length - 1]);
        }
        doc.put("latency_ms", lat);
        return doc;
    }

    private Integer truth(String coords, Prediction p, List<String> classNames) {
        String header = labelByFrame.get(coords);
        if (header != null) {
            try {
                return FrameDecoder.parseLabel(header, classNames, false);
            } catch (FrameRejectedException e) {
                return null;
            }
        }
        return p.label();
    }

    /** "crmn-demo v10" sorts after "crmn-demo v9". */
    private static String modelSortKey(String model) {
        int v = model.lastIndexOf(" v");
        return v < 0 ? model : model.substring(0, v) + String.format(" v%012d", Long.parseLong(model.substring(v + 2)));
    }

    static double percentile(double[] sorted, double pct) {
        int idx = (int) Math.ceil(pct / 100.0 * sorted.length) - 1;
        return sorted[Math.max(0, Math.min(sorted.length - 1, idx))];
    }
}
