package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class HoldoutSplitTest {

    @Test
    void theSplitDependsOnlyOnThePixelsAndKeepsAboutTheStatedShare() {
        SplittableRandom rng = new SplittableRandom(3);
        int n = 20_000, held = 0;
        for (int i = 0; i < n; i++) {
            byte[] pixels = new byte[32 * 32 * 3];
            rng.nextBytes(pixels);
            boolean h = TrainingFrames.inHoldout(pixels, 10);
            assertThat(TrainingFrames.inHoldout(pixels.clone(), 10)).as("the same image again").isEqualTo(h);
            held += h ? 1 : 0;
        }
        assertThat(held / (double) n).isBetween(0.09, 0.11);
        byte[] black = new byte[32 * 32 * 3];
        assertThat(TrainingFrames.inHoldout(black, 100)).isTrue();
        assertThat(TrainingFrames.inHoldout(black, 0)).isFalse();
    }
}
