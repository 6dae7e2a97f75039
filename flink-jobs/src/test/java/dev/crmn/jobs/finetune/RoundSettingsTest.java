package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** A setting out of range is refused when the job is planned, in one line naming its option and value. */
class RoundSettingsTest {

    private static RoundSettings settings(int patience, int holdoutPercent, double averageDecay) {
        return new RoundSettings("crmn-demo", "/unused", null, null, 100, 60_000, 10, 8, 0.01, averageDecay,
                holdoutPercent, 100, 10, 1000, 1, "frames-labelled", null, new PromotionGate(0.05, 0.5, 5), patience,
                null);
    }

    @Test
    void eachSettingOutOfRangeIsNamedWithItsValue() {
        assertThatThrownBy(() -> settings(-1, 10, 0.998)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--patience -1: must be 0 (no rounds over the reservoir while the stream is quiet) or more");
        assertThatThrownBy(() -> settings(3, 0, 0.998)).hasMessage("--holdout-percent 0: must be 1 to 50");
        assertThatThrownBy(() -> settings(3, 51, 0.998)).hasMessage("--holdout-percent 51: must be 1 to 50");
        assertThatThrownBy(() -> settings(3, 10, 1.0)).hasMessage("--average-decay 1.0: must be in [0, 1) (0: no average)");
        settings(0, 50, 0); // the edges are accepted
    }

    @Test
    void theGatesSettingsToo() {
        assertThatThrownBy(() -> new PromotionGate(0, 0.5, 100)).hasMessage("--significance 0.0: must be in (0, 1)");
        assertThatThrownBy(() -> new PromotionGate(0.05, -1, 100)).hasMessage("--margin -1.0: must be 0 or more points");
        assertThatThrownBy(() -> new PromotionGate(0.05, 0.5, 0)).hasMessage("--min-holdout 0: must be 1 or more images");
    }
}
