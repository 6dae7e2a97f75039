package dev.crmn.jobs.demo;

import dev.crmn.jobs.finetune.RoundReport;
import dev.crmn.model.cli.CliSupport;
import dev.crmn.model.data.ImageBytes;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The demo's report folder: {@code report.json} (the numbers), three PNG plots (accuracy over time with the swaps
 * marked, latency histogram, throughput over time) and {@code report.html}, which embeds them (self-contained).
 */
final class DemoReport {

    private static final int W = 900;
    private static final int H = 320;
    private static final int BUCKET_S = DemoObserver.BUCKET_S;

    private DemoReport() {
    }

    /** Writes the report; returns the numbers it wrote to report.json. */
    static Map<String, Object> write(Path dir, Map<String, Object> header, DemoObserver.Summary seen, long deadLetters,
                                     List<RoundReport> rounds, long startMs) throws IOException {
        Files.createDirectories(dir);
        Map<Long, Long> versions = seen.versionsFirstSeen();
        Map<String, Object> doc = new LinkedHashMap<>(header);
        doc.put("predictions", seen.predictions());
        doc.put("dead_letters", deadLetters);
        Map<String, Object> byVersion = new LinkedHashMap<>();
        seen.perVersion().forEach((v, c) -> byVersion.put("v" + v, Map.of("predictions", c.predictions(), "labelled",
                c.labelled(), "accuracy", c.accuracy())));
        doc.put("per_version", byVersion);
        double[] lat = seen.latencySample();
        if (lat.length > 0) {
            doc.put("latency_ms", Map.of("p50", lat[lat.length / 2], "p90", lat[(int) (0.9 * (lat.length - 1))],
                    "p99", lat[(int) (0.99 * (lat.length - 1))], "max", seen.maxLatencyMs()));
        }
        List<Map<String, Object>> swaps = new ArrayList<>();
        versions.forEach((v, t) -> swaps.add(Map.of("version", v, "first_prediction_s", (t - startMs) / 1000.0)));
        doc.put("versions", swaps);
        List<Map<String, Object>> timeline = timeline(seen.buckets());
        doc.put("timeline", timeline);
        doc.put("rounds", rounds);
        Files.write(dir.resolve("report.json"), CliSupport.json().writeValueAsBytes(doc));

        byte[] accuracy = lineChart("Accuracy of labelled predictions (per " + BUCKET_S + " s; | = a new version's first prediction)",
                timeline, "accuracy", 0, 1, swaps);
        byte[] throughput = lineChart("Predictions per second (per " + BUCKET_S + " s)", timeline, "predictions_per_s", 0,
                Double.NaN, swaps);
        byte[] latency = histogram("End-to-end latency (ms)", lat);
        Files.write(dir.resolve("accuracy.png"), accuracy);
        Files.write(dir.resolve("throughput.png"), throughput);
        Files.write(dir.resolve("latency.png"), latency);
        String html = "<!doctype html><html><head><meta charset=\"utf-8\"><title>crmn demo report</title>"
                + "<style>body{font-family:sans-serif;margin:2em;max-width:960px}pre{background:#f4f4f4;padding:1em}"
                + "</style></head><body><h1>crmn demo report</h1>"
                + "<p>" + esc(String.valueOf(header.get("started"))) + ", " + header.get("duration_s") + " s: "
                + seen.predictions() + " committed predictions, " + deadLetters + " dead letters, " + rounds.size()
                + " fine-tuning round(s), versions " + versions.keySet() + ".</p>"
                + img(accuracy) + img(throughput) + img(latency)
                + "<h2>Numbers</h2><pre>" + esc(new String(CliSupport.json().writeValueAsBytes(without(doc, "timeline")),
                StandardCharsets.UTF_8)) + "</pre></body></html>";
        Files.writeString(dir.resolve("report.html"), html);
        return doc;
    }

    private static Map<String, Object> without(Map<String, Object> m, String key) {
        Map<String, Object> c = new LinkedHashMap<>(m);
        c.remove(key);
        return c;
    }

    private static List<Map<String, Object>> timeline(Map<Long, DemoObserver.Counts> buckets) {
        List<Map<String, Object>> out = new ArrayList<>();
        buckets.forEach((k, c) -> {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("t_s", k * BUCKET_S);
            m.put("predictions_per_s", c.predictions() / (double) BUCKET_S);
            m.put("accuracy", c.labelled() == 0 ? null : c.accuracy());
            out.add(m);
        });
        return out;
    }

    private static String img(byte[] png) {
        return "<p><img alt=\"plot\" src=\"data:image/png;base64," + Base64.getEncoder().encodeToString(png) + "\"></p>";
    }

    private static String esc(String s) {
        return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;");
    }

    private static Graphics2D canvas(BufferedImage img, String title) {
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, H);
        g.setColor(Color.DARK_GRAY);
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 13));
        g.drawString(title, 60, 20);
        g.drawRect(60, 30, W - 80, H - 70);
        return g;
    }

    private static byte[] lineChart(String title, List<Map<String, Object>> timeline, String key, double min, double max,
                                    List<Map<String, Object>> swaps) throws IOException {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img, title);
        double tMax = Math.max(BUCKET_S, timeline.stream().mapToDouble(m -> ((Number) m.get("t_s")).doubleValue()).max()
                .orElse(BUCKET_S) + BUCKET_S);
        double top = Double.isNaN(max) ? Math.max(1, timeline.stream().filter(m -> m.get(key) != null)
                .mapToDouble(m -> ((Number) m.get(key)).doubleValue()).max().orElse(1)) * 1.1 : max;
        g.drawString(String.format("%.2f", top), 5, 40);
        g.drawString(String.format("%.2f", min), 5, H - 40);
        g.drawString("0 s", 60, H - 22);
        g.drawString(String.format("%.0f s", tMax), W - 70, H - 22);
        g.setColor(new Color(200, 60, 60));
        for (Map<String, Object> s : swaps) {
            int x = 60 + (int) ((W - 80) * ((Number) s.get("first_prediction_s")).doubleValue() / tMax);
            g.drawLine(x, 30, x, H - 40);
            g.drawString("v" + s.get("version"), x + 3, 44);
        }
        g.setColor(new Color(40, 90, 180));
        g.setStroke(new BasicStroke(2f));
        int px = -1, py = -1;
        for (Map<String, Object> m : timeline) {
            if (m.get(key) == null) {
                continue;
            }
            int x = 60 + (int) ((W - 80) * (((Number) m.get("t_s")).doubleValue() + BUCKET_S / 2.0) / tMax);
            int y = H - 40 - (int) ((H - 70) * (((Number) m.get(key)).doubleValue() - min) / (top - min));
            if (px >= 0) {
                g.drawLine(px, py, x, y);
            }
            g.fillOval(x - 3, y - 3, 6, 6);
            px = x;
            py = y;
        }
        g.dispose();
        return ImageBytes.encode(img, "png");
    }

    private static byte[] histogram(String title, double[] sortedValues) throws IOException {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img, title);
        if (sortedValues.length > 0) {
            double hi = sortedValues[(int) (0.995 * (sortedValues.length - 1))];
            int bins = 40;
            int[] counts = new int[bins];
            for (double v : sortedValues) {
                counts[(int) Math.min(bins - 1, Math.max(0, v / Math.max(1e-9, hi) * bins))]++;
            }
            int maxCount = java.util.Arrays.stream(counts).max().orElse(1);
            g.setColor(new Color(40, 90, 180));
            int bw = (W - 80) / bins;
            for (int i = 0; i < bins; i++) {
                int h = (int) ((H - 70) * counts[i] / (double) maxCount);
                g.fillRect(60 + i * bw, H - 40 - h, bw - 2, h);
            }
            g.setColor(Color.DARK_GRAY);
            g.drawString("0", 60, H - 22);
            g.drawString(String.format("%.0f ms (p99.5)", hi), W - 140, H - 22);
        }
        g.dispose();
        return ImageBytes.encode(img, "png");
    }
}
