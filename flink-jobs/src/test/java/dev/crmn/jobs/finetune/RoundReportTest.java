package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.Locale;
import org.junit.jupiter.api.Test;

/** The one line a round is logged and printed as. */
class RoundReportTest {

    private static RoundReport round(Long candidateVersion, Double baseAccuracy, String decision, String reason,
                                     Boolean counts) {
        return new RoundReport(3, 2, candidateVersion, baseAccuracy, baseAccuracy == null ? null : 0.328,
                baseAccuracy == null ? null : 1.9, baseAccuracy == null ? null : 1.7, 500, 640, 5000, 150, decision,
                reason, PromotionGate.Test.MCNEMAR.statistic(), baseAccuracy == null ? null : 0.01, null, null, 12.5, 600, 0L, counts);
    }

    @Test
    void aPromotionNamesItsVersionAndReason() {
        assertThat(round(3L, 0.25, "promoted", "+7.80 points", null).line())
                .isEqualTo("round 3: base v2 0.2500 vs candidate 0.3280 on 500 holdout images: promoted as v3 "
                        + "(+7.80 points)");
    }

    @Test
    void aRefusalSaysWhetherItCountsTowardsThePatience() {
        assertThat(round(null, 0.25, "refused", "p = 0.4", true).line())
                .endsWith("holdout images: refused (p = 0.4; counts towards --patience)");
        assertThat(round(null, 0.25, "refused", "p = 0.4", false).line())
                .endsWith("refused (p = 0.4; ahead in holdout accuracy or loss, so not counted towards --patience)");
    }

    @Test
    void aSkippedRoundHasOnlyItsReason() {
        assertThat(round(null, null, "skipped", "the holdout has 44 image(s)", null).line())
                .isEqualTo("round 3: base v2: skipped: the holdout has 44 image(s)");
    }

    @Test
    void numbersAreWrittenTheSameInEveryLocale() {
        Locale before = Locale.getDefault();
        try {
            Locale.setDefault(Locale.GERMANY);
            assertThat(round(3L, 0.25, "promoted", "r", null).line()).contains("0.2500 vs candidate 0.3280");
        } finally {
            Locale.setDefault(before);
        }
    }
}
