package dev.crmn.jobs.demo;

import dev.crmn.connectors.format.ModelQuality;
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
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The demo's report folder: {@code report.json} (every number), three PNG plots and {@code report.html}, written for
 * a person: what happened when and why (the story: versions served, rounds decided, rollbacks), what each count
 * means, a table per model version, and plots with labelled axes and ticks, decisions marked on the accuracy plot.
 */
final class DemoReport {

    private static final int W = 900;
    private static final int H = 340;
    /** The plot area: left, top, right and bottom margins. */
    private static final int L = 70;
    private static final int T = 34;
    private static final int R = 20;
    private static final int B = 56;
    private static final int BUCKET_S = DemoObserver.BUCKET_S;
    private static final Color PROMOTED = new Color(30, 140, 60);
    private static final Color ROLLED_BACK = new Color(200, 40, 40);
    private static final Color SERVED = new Color(120, 120, 120);
    private static final Color REJECTED = new Color(220, 130, 20);

    /** Something the demo itself did or saw happen, {@code atMs} after its start. */
    record Event(long atMs, String text) {
    }

    /** A mark on the accuracy plot. */
    private record Mark(double tS, String label, Color color) {
    }

    private DemoReport() {
    }

    /** Writes the report; returns the numbers it wrote to report.json. */
    static Map<String, Object> write(Path dir, Map<String, Object> header, DemoObserver.Summary seen, long deadLetters,
                                     List<RoundReport> rounds, List<ModelQuality> quality, List<Event> events,
                                     Map<Long, String> origins, long startMs) throws IOException {
        Files.createDirectories(dir);
        Map<Long, Long> firstSeen = seen.versionsFirstSeen();
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
        firstSeen.forEach((v, t) -> swaps.add(Map.of("version", v, "first_prediction_s", (t - startMs) / 1000.0)));
        doc.put("versions", swaps);
        List<Map<String, Object>> timeline = timeline(seen.buckets());
        doc.put("timeline", timeline);
        doc.put("rounds", rounds);
        doc.put("model_quality", quality);
        doc.put("events", events);
        Files.write(dir.resolve("report.json"), CliSupport.json().writeValueAsBytes(doc));

        List<Mark> marks = new ArrayList<>();
        firstSeen.forEach((v, t) -> marks.add(new Mark((t - startMs) / 1000.0, "v" + v + " serves", SERVED)));
        for (RoundReport r : rounds) {
            if (r.promoted()) {
                marks.add(new Mark((r.decidedAt() - startMs) / 1000.0, "v" + r.candidateVersion() + " promoted", PROMOTED));
            }
        }
        for (ModelQuality q : quality) {
            if (q.decision() == null) {
                continue;
            }
            double t = (q.decision().at() - startMs) / 1000.0;
            switch (q.decision().action()) {
                case "rollback" -> marks.add(new Mark(t, "v" + q.version() + " rolled back", ROLLED_BACK));
                case "reject" -> marks.add(new Mark(t, "shadow v" + q.version() + " rejected", REJECTED));
                case "serve" -> marks.add(new Mark(t, "shadow v" + q.version() + " served", PROMOTED));
                default -> { }
            }
        }
        byte[] accuracy = lineChart("Accuracy of the labelled predictions, per " + BUCKET_S + " s", timeline, "accuracy",
                0, 1, "accuracy", marks);
        byte[] throughput = lineChart("Committed predictions per second, per " + BUCKET_S + " s", timeline,
                "predictions_per_s", 0, Double.NaN, "predictions / s", List.of());
        byte[] latency = histogram("End-to-end latency of the predictions (frame sent to prediction committed)", lat);
        Files.write(dir.resolve("accuracy.png"), accuracy);
        Files.write(dir.resolve("throughput.png"), throughput);
        Files.write(dir.resolve("latency.png"), latency);
        StringBuilder html = new StringBuilder("<!doctype html><html><head><meta charset=\"utf-8\"><title>crmn demo"
                + " report</title><style>body{font-family:sans-serif;margin:2em;max-width:960px}table{border-collapse:"
                + "collapse}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}td:first-child,th:first-child"
                + "{text-align:left}li{margin:.3em 0}</style></head><body><h1>crmn demo report</h1>");
        html.append("<p>").append(esc(summary(header, seen, rounds, quality))).append("</p>");
        html.append("<h2>What happened</h2><ol>");
        for (String line : story(header, firstSeen, rounds, quality, events, startMs)) {
            html.append("<li>").append(esc(line)).append("</li>");
        }
        html.append("</ol><h2>The counts</h2>").append(counts(header, seen, deadLetters));
        html.append("<h2>Each model version</h2>").append(versionTable(seen, firstSeen, origins, quality, startMs));
        html.append("<h2>Plots</h2><p>Accuracy: the share of labelled predictions whose most probable class was the"
                + " label, per ").append(BUCKET_S).append(" s of predictions (all versions together; a shadow's are not"
                + " among them). Marks: grey when a version made its first prediction, green when the fine-tuning job"
                + " promoted one or the quality job served a shadow, orange when it rejected a shadow, red when it rolled"
                + " a version back.</p>");
        html.append(img(accuracy)).append(img(throughput)).append(img(latency));
        html.append("<p>Every number above, and the per-").append(BUCKET_S)
                .append("-second timeline, is in <code>report.json</code> beside this page.</p></body></html>");
        Files.writeString(dir.resolve("report.html"), html.toString());
        return doc;
    }

    private static String summary(Map<String, Object> header, DemoObserver.Summary seen, List<RoundReport> rounds,
                                  List<ModelQuality> quality) {
        long promoted = rounds.stream().filter(RoundReport::promoted).count();
        long rolledBack = decisions(quality, "rollback");
        return String.format(Locale.ROOT, "Started %s and ran %.0f s on %s%s. %d frames were sent and %d committed"
                        + " predictions read; the fine-tuning job ran %d round(s) and promoted %d version(s); the quality"
                        + " job rolled back %d, served %d shadow(s) and rejected %d.", header.get("started"), ((Number) header.get("duration_s")).doubleValue(),
                Boolean.TRUE.equals(header.get("data_is_sample")) ? "the CIFAR-10 sample shipped in the repository"
                        : "CIFAR-10 (" + header.get("data") + ")",
                header.get("corruption") == null ? "" : ", every image drifted with " + header.get("corruption"),
                ((Number) header.get("frames_sent")).longValue(), seen.predictions(), rounds.size(), promoted, rolledBack,
                decisions(quality, "serve"), decisions(quality, "reject"));
    }

    private static long decisions(List<ModelQuality> quality, String action) {
        return quality.stream().filter(q -> q.decision() != null && action.equals(q.decision().action())).count();
    }

    /** The run in order: versions served, rounds decided, what the demo did, rollbacks. */
    static List<String> story(Map<String, Object> header, Map<Long, Long> firstSeen, List<RoundReport> rounds,
                              List<ModelQuality> quality, List<Event> events, long startMs) {
        TreeMap<Long, List<String>> at = new TreeMap<>();
        at.computeIfAbsent(0L, k -> new ArrayList<>()).add("0 s: " + header.get("first_model") + " published to the"
                + " store and served by the inference job; CIFAR-10 test images streamed to 'frames', labelled images to"
                + " 'frames-labelled' for the fine-tuning job.");
        firstSeen.forEach((v, t) -> at.computeIfAbsent(t - startMs, k -> new ArrayList<>()).add(seconds(t - startMs)
                + ": first prediction of v" + v + "."));
        for (RoundReport r : rounds) {
            String what = r.baseAccuracy() == null ? "skipped: " + r.reason()
                    : String.format(Locale.ROOT, "v%d %.1f %% against its candidate %.1f %% on %d holdout images: %s",
                    r.baseVersion(), 100 * r.baseAccuracy(), 100 * r.candidateAccuracy(), r.holdoutImages(),
                    r.promoted() ? "promoted as v" + r.candidateVersion() + " (" + r.reason() + ")"
                            : r.decision() + " (" + r.reason() + ")");
            at.computeIfAbsent(r.decidedAt() - startMs, k -> new ArrayList<>()).add(seconds(r.decidedAt() - startMs)
                    + ": fine-tuning round " + r.round() + " (" + r.newFrames() + " new frames, " + r.steps()
                    + " steps in all): " + what + ".");
        }
        for (Event e : events) {
            if (!e.text().startsWith("the quality job rolled")) { // from the quality job's own records below
                at.computeIfAbsent(e.atMs(), k -> new ArrayList<>()).add(seconds(e.atMs()) + ": the demo " + e.text() + ".");
            }
        }
        for (ModelQuality q : quality) {
            if (q.decision() != null) {
                long t = q.decision().at() - startMs;
                String then = switch (q.decision().action()) {
                    case "rollback" -> " The inference job serves v" + q.decision().to() + " again, and neither job uses v"
                            + q.version() + " again.";
                    case "serve" -> " The inference job serves it from its next batch (it was loaded already).";
                    case "reject" -> " It never served a prediction, and is freed.";
                    default -> "";
                };
                at.computeIfAbsent(t, k -> new ArrayList<>()).add(seconds(t) + ": " + decision(q) + "." + then);
            }
        }
        List<String> out = new ArrayList<>();
        at.values().forEach(out::addAll);
        return out;
    }

    /** A quality job's decision in words ("the quality job rolled v3 back to v2: ..."). */
    static String decision(ModelQuality q) {
        return "the quality job " + switch (q.decision().action()) {
            case "rollback" -> "rolled v" + q.version() + " back to v" + q.decision().to();
            case "serve" -> "served the shadow v" + q.version();
            case "reject" -> "rejected the shadow v" + q.version();
            default -> "could not act on v" + q.version();
        } + ": " + q.decision().reason();
    }

    private static String seconds(long ms) {
        return String.format(Locale.ROOT, "%.0f s", ms / 1000.0);
    }

    /** The counts, each with what it counts, and what a difference between them means. */
    private static String counts(Map<String, Object> header, DemoObserver.Summary seen, long deadLetters) {
        long sent = ((Number) header.get("frames_sent")).longValue();
        long predicted = ((Number) header.get("frames_predicted")).longValue();
        long duplicates = ((Number) header.get("duplicates")).longValue();
        long labelled = ((Number) header.get("labelled_frames_sent")).longValue();
        String exactly = predicted == sent && duplicates == 0 ? "each exactly once"
                : (sent - predicted) + " had no committed prediction when the demo stopped (still in flight: the demo"
                + " waits up to " + DemoCommand.DRAIN_S + " s), " + duplicates + " were predicted more than once";
        return "<table><tr><th>count</th><th>value</th><th>what it counts</th></tr>"
                + row("frames sent to 'frames'", sent, "CIFAR-10 test images the demo streamed for classification,"
                + " each with its label header (so accuracy can be measured)")
                + row("of them predicted", predicted, "frames of the demo with a committed prediction: " + exactly)
                + row("predictions read", seen.predictions(), "all committed predictions on 'predictions', including"
                + " any for frames you sent yourself")
                + row("labelled frames sent to 'frames-labelled'", labelled, "the fine-tuning job's stream (batches 3-4)")
                + row("dead letters", deadLetters, "frames the jobs could not use, with the reason (none from the demo's"
                + " own streams unless something is wrong)")
                + "</table>";
    }

    private static String row(String name, long value, String meaning) {
        return "<tr><td>" + esc(name) + "</td><td>" + value + "</td><td style=\"text-align:left\">" + esc(meaning)
                + "</td></tr>";
    }

    /** {@code origins}: how each version came to be (the reason of its first status record in the store). */
    private static String versionTable(DemoObserver.Summary seen, Map<Long, Long> firstSeen, Map<Long, String> origins,
                                       List<ModelQuality> quality, long startMs) {
        Map<Long, ModelQuality> q = new TreeMap<>();
        quality.forEach(m -> q.put(m.version(), m));
        java.util.TreeSet<Long> versions = new java.util.TreeSet<>(firstSeen.keySet());
        versions.addAll(q.keySet());
        StringBuilder t = new StringBuilder("<table><tr><th>version</th><th>how it came</th><th>first prediction</th>"
                + "<th>predictions</th><th>labelled</th><th>accuracy</th><th>status</th></tr>");
        for (long v : versions) {
            DemoObserver.Counts c = seen.perVersion().get(v);
            ModelQuality m = q.get(v);
            String origin = origins.getOrDefault(v, v == versions.first() ? "the first model" : "-");
            t.append("<tr><td>v").append(v).append("</td><td style=\"text-align:left\">").append(esc(origin))
                    .append("</td><td>").append(firstSeen.containsKey(v) ? seconds(firstSeen.get(v) - startMs) : "-")
                    .append("</td><td>").append(c == null ? 0 : c.predictions()).append("</td><td>")
                    .append(c == null ? 0 : c.labelled()).append("</td><td>")
                    .append(c == null || c.labelled() == 0 ? "-" : String.format(Locale.ROOT, "%.1f %%", 100 * c.accuracy()))
                    .append("</td><td style=\"text-align:left\">").append(m == null ? "-" : esc(m.status()
                            + (m.decision() == null ? "" : " (" + m.decision().reason() + ")"))).append("</td></tr>");
        }
        return t.append("</table><p>Predictions, labelled and accuracy count the committed predictions of each version"
                + " the demo read; status is the quality job's (serving, replaced by a newer version, rolled-back).</p>")
                .toString();
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
        g.drawString(title, L, 20);
        g.drawRect(L, T, W - L - R, H - T - B);
        return g;
    }

    /** A step of 1, 2 or 5 times a power of ten giving about {@code n} ticks over {@code span}. */
    static double niceStep(double span, int n) {
        double raw = span / n;
        double p = Math.pow(10, Math.floor(Math.log10(raw)));
        double f = raw / p;
        return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * p;
    }

    /** Ticks and grid lines on both axes, and their titles. */
    private static void axes(Graphics2D g, double tMax, double min, double top, String xTitle, String yTitle,
                             String yFormat) {
        Font small = new Font(Font.SANS_SERIF, Font.PLAIN, 11);
        g.setFont(small);
        double xs = niceStep(tMax, 8);
        for (double x = 0; x <= tMax + 1e-9; x += xs) {
            int px = L + (int) ((W - L - R) * x / tMax);
            g.setColor(new Color(235, 235, 235));
            g.drawLine(px, T + 1, px, H - B - 1);
            g.setColor(Color.DARK_GRAY);
            g.drawLine(px, H - B, px, H - B + 4);
            g.drawString(String.format(Locale.ROOT, "%.0f", x), px - 8, H - B + 17);
        }
        double ys = niceStep(top - min, 5);
        for (double y = min; y <= top + 1e-9; y += ys) {
            int py = H - B - (int) ((H - T - B) * (y - min) / (top - min));
            g.setColor(new Color(235, 235, 235));
            g.drawLine(L + 1, py, W - R - 1, py);
            g.setColor(Color.DARK_GRAY);
            g.drawLine(L - 4, py, L, py);
            String label = String.format(Locale.ROOT, yFormat, y);
            g.drawString(label, L - 8 - g.getFontMetrics().stringWidth(label), py + 4);
        }
        g.drawString(xTitle, L + (W - L - R) / 2 - g.getFontMetrics().stringWidth(xTitle) / 2, H - 12);
        java.awt.geom.AffineTransform saved = g.getTransform();
        g.rotate(-Math.PI / 2);
        g.drawString(yTitle, -(T + (H - T - B) / 2) - g.getFontMetrics().stringWidth(yTitle) / 2, 14);
        g.setTransform(saved);
    }

    private static byte[] lineChart(String title, List<Map<String, Object>> timeline, String key, double min, double max,
                                    String yTitle, List<Mark> marks) throws IOException {
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = canvas(img, title);
        double tMax = Math.max(BUCKET_S, timeline.stream().mapToDouble(m -> ((Number) m.get("t_s")).doubleValue()).max()
                .orElse(BUCKET_S) + BUCKET_S);
        for (Mark m : marks) {
            tMax = Math.max(tMax, m.tS());
        }
        double top = Double.isNaN(max) ? Math.max(1, timeline.stream().filter(m -> m.get(key) != null)
                .mapToDouble(m -> ((Number) m.get(key)).doubleValue()).max().orElse(1)) * 1.1 : max;
        axes(g, tMax, min, top, "seconds since the demo started", yTitle, max <= 1 ? "%.1f" : "%.0f");
        int row = 0;
        List<Mark> sorted = new ArrayList<>(marks);
        sorted.sort(Comparator.comparingDouble(Mark::tS));
        for (Mark m : sorted) {
            int x = L + (int) ((W - L - R) * m.tS() / tMax);
            g.setColor(m.color());
            g.setStroke(new BasicStroke(1.5f, BasicStroke.CAP_BUTT, BasicStroke.JOIN_MITER, 10f, new float[]{5f, 4f}, 0f));
            g.drawLine(x, T, x, H - B);
            g.setStroke(new BasicStroke(1f));
            g.drawString(m.label(), Math.min(x + 3, W - R - 90), T + 14 + 13 * (row++ % 4));
        }
        g.setColor(new Color(40, 90, 180));
        g.setStroke(new BasicStroke(2f));
        int px = -1;
        int py = -1;
        for (Map<String, Object> m : timeline) {
            if (m.get(key) == null) {
                px = -1; // a gap: no labelled prediction in that bucket
                continue;
            }
            int x = L + (int) ((W - L - R) * (((Number) m.get("t_s")).doubleValue() + BUCKET_S / 2.0) / tMax);
            int y = H - B - (int) ((H - T - B) * (((Number) m.get(key)).doubleValue() - min) / (top - min));
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
            double hi = Math.max(1, sortedValues[(int) (0.995 * (sortedValues.length - 1))]);
            int bins = 40;
            int[] counts = new int[bins];
            for (double v : sortedValues) {
                counts[(int) Math.min(bins - 1, Math.max(0, v / hi * bins))]++;
            }
            int maxCount = Math.max(1, java.util.Arrays.stream(counts).max().orElse(1));
            axes(g, hi, 0, maxCount * 1.1, "milliseconds (up to the 99.5th percentile; slower ones in the last bar)",
                    "predictions", "%.0f");
            g.setColor(new Color(40, 90, 180));
            double bw = (W - L - R) / (double) bins;
            for (int i = 0; i < bins; i++) {
                int h = (int) ((H - T - B) * counts[i] / (maxCount * 1.1));
                g.fillRect(L + (int) (i * bw) + 1, H - B - h, (int) bw - 2, h);
            }
        }
        g.dispose();
        return ImageBytes.encode(img, "png");
    }
}
