package dev.crmn.jobs.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelQuality;
import dev.crmn.jobs.finetune.RoundReport;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The demo's report tells the run as a story, explains each count, has a table per version and no JSON dump. */
class DemoReportTest {

    @TempDir
    Path dir;

    @Test
    void aRunWithAPromotionAndARollbackIsToldInOrderWithATablePerVersion() throws Exception {
        long start = 1_000_000;
        Map<String, Object> header = new LinkedHashMap<>();
        header.put("started", "2026-12-06T10:00:00Z");
        header.put("corruption", null);
        header.put("duration_s", 120.0);
        header.put("first_model", "crmn-demo-early v1");
        header.put("data", "data/cifar10");
        header.put("data_is_sample", false);
        header.put("frames_sent", 1000L);
        header.put("labelled_frames_sent", 5000L);
        header.put("frames_predicted", 998L);
        header.put("duplicates", 0L);
        Map<Long, DemoObserver.Counts> perVersion = new TreeMap<>(Map.of(1L, new DemoObserver.Counts(500, 500, 260),
                2L, new DemoObserver.Counts(300, 300, 180), 3L, new DemoObserver.Counts(198, 198, 4)));
        Map<Long, DemoObserver.Counts> buckets = new TreeMap<>();
        for (long b = 0; b < 24; b++) {
            buckets.put(b, new DemoObserver.Counts(40, 40, b < 12 ? 21 : b < 16 ? 24 : b < 18 ? 1 : 25));
        }
        DemoObserver.Summary seen = new DemoObserver.Summary(998, perVersion, buckets, new double[]{20, 30, 40, 900}, 900,
                new TreeMap<>(Map.of(1L, start + 2_000, 2L, start + 61_000, 3L, start + 82_000)));
        RoundReport promoted = new RoundReport(1, 1, 2L, 0.52, 0.60, 1.4, 1.2, 400, 4000, 5120, 80,
                "promoted", "+8.00 points, p = 0.0001 < 0.05", "mcnemar-exact", 0.0001, null, null, 40, 128,
                start + 60_000, null);
        ModelQuality q3 = new ModelQuality(1, "crmn-demo-early", 3, "rolled-back", 198, 198, 4, 0.02, null, 2L,
                new ModelQuality.Figures(2, 300, 180, 0.6), null, null,
                new ModelQuality.Decision("rollback", 2, "live accuracy 2.0 % on 200 labelled predictions, below v2's"
                        + " 60.0 %", start + 90_000), start + 82_000, start + 95_000);
        ModelQuality q4 = new ModelQuality(1, "crmn-demo-early", 4, "rejected", 300, 300, 150, 0.5, null, null, null,
                new ModelQuality.Paired(2, 200, 10, 40), null, new ModelQuality.Decision("reject", 2, "worse than v2: ...",
                start + 110_000), start + 100_000, start + 115_000);
        List<DemoReport.Event> events = List.of(new DemoReport.Event(80_000, "announced crmn-demo-early v3: "
                + BrokenVersion.WHY));
        DemoReport.write(dir, header, seen, 3, List.of(promoted), List.of(q3, q4), events, Map.of(2L,
                "promoted by the fine-tuning job (0.6 on its holdout)", 3L, BrokenVersion.WHY), start);

        String html = Files.readString(dir.resolve("report.html"));
        assertThat(html).doesNotContain("\"timeline\"").doesNotContain("<pre>");
        int served = html.indexOf("2 s: first prediction of v1");
        int round = html.indexOf("60 s: fine-tuning round 1");
        int bad = html.indexOf("80 s: the demo announced crmn-demo-early v3");
        int rollback = html.indexOf("90 s: the quality job rolled v3 back to v2");
        assertThat(served).as("the story, in order").isPositive().isLessThan(round);
        assertThat(round).isLessThan(bad);
        assertThat(bad).isLessThan(rollback);
        assertThat(html.indexOf("110 s: the quality job rejected the shadow v4: worse than v2")).isGreaterThan(rollback);
        assertThat(html).contains("It never served a prediction").contains("rolled back 1, served 0 shadow(s) and rejected 1");
        assertThat(html).contains("promoted as v2").contains("998").contains("2 had no committed prediction when the demo"
                + " stopped").contains("the first model").contains("promoted by the fine-tuning job (0.6 on its holdout)")
                .contains("a deliberately broken version")
                .contains("rolled-back (live accuracy 2.0 %");
        for (String png : List.of("accuracy.png", "throughput.png", "latency.png")) {
            assertThat(Files.size(dir.resolve(png))).isGreaterThan(1000);
        }
        assertThat(Files.readString(dir.resolve("report.json"))).contains("\"model_quality\"").contains("\"events\"");
    }

    @Test
    void ticksAreOneTwoOrFiveTimesAPowerOfTen() {
        assertThat(DemoReport.niceStep(180, 8)).isEqualTo(20);
        assertThat(DemoReport.niceStep(1, 5)).isEqualTo(0.2);
        assertThat(DemoReport.niceStep(600, 8)).isEqualTo(100);
        assertThat(DemoReport.niceStep(37, 8)).isEqualTo(5);
    }
}
