package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class RoundMixTest {

    /** 150 steps of 64: a round sees 9,600 images. */
    static RoundSettings settings(Anchor anchor) {
        return new RoundSettings("m", "file:/s", null, "c", 2000, 60_000, 150, 64, 0.01, 0.998, 10, 1000, 10, 20_000, 1,
                "frames-labelled", null, new PromotionGate(0.05, 0.5, 100), 3, anchor);
    }

    @Test
    void replayFillsTheRoundButNeverFallsBelowTheNewFrames() {
        assertThat(RoundMix.of(2000, 20_000, 0, settings(null))).isEqualTo(new RoundMix(7600, 0));
        assertThat(RoundMix.of(8000, 20_000, 0, settings(null))).isEqualTo(new RoundMix(8000, 0));
        assertThat(RoundMix.of(12_000, 20_000, 0, settings(null))).isEqualTo(new RoundMix(12_000, 0));
    }

    @Test
    void aQuietRoundIsReplayOnlyAndBoundedByTheReservoir() {
        assertThat(RoundMix.of(0, 20_000, 0, settings(null))).isEqualTo(new RoundMix(9600, 0));
        assertThat(RoundMix.of(0, 300, 0, settings(null))).isEqualTo(new RoundMix(300, 0));
        assertThat(RoundMix.of(500, 0, 0, settings(null))).isEqualTo(new RoundMix(0, 0));
    }

    @Test
    void theAnchorTakesItsShareOfTheRoundBoundedByWhatItHas() {
        Anchor a = new Anchor(List.of("anchor.bin"), 5000, 0.2);
        assertThat(RoundMix.of(2000, 20_000, 5000, settings(a))).isEqualTo(new RoundMix(5680, 1920));
        assertThat(RoundMix.of(0, 20_000, 1000, settings(a))).isEqualTo(new RoundMix(8600, 1000));
        assertThat(RoundMix.of(0, 20_000, 0, settings(a))).isEqualTo(new RoundMix(9600, 0)); // files held no image
    }
}
