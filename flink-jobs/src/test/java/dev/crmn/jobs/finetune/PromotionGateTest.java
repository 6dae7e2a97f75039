package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class PromotionGateTest {

    final PromotionGate gate = new PromotionGate(0.05, 0.5, 100);

    @Test
    void theExactTailMatchesHandComputedValues() {
        assertThat(PromotionGate.upperTail(0, 10)).isEqualTo(1.0);
        assertThat(PromotionGate.upperTail(10, 10)).isCloseTo(1.0 / 1024, within(1e-12));
        assertThat(PromotionGate.upperTail(8, 10)).isCloseTo((45 + 10 + 1) / 1024.0, within(1e-12));
        assertThat(PromotionGate.upperTail(5, 10)).isCloseTo(638 / 1024.0, within(1e-12));
        assertThat(PromotionGate.upperTail(3000, 5000)).isLessThan(1e-40).isPositive(); // no underflow to NaN
        assertThat(PromotionGate.upperTail(2500, 5000)).isCloseTo(0.5056, within(1e-3));
    }

    /** n images; the base is right on the first baseRight, the candidate on the first candidateRight. */
    static PromotionGate.Decision decide(PromotionGate g, int n, int baseRight, int candidateRight) {
        int[] labels = new int[n];
        int[] base = new int[n];
        int[] cand = new int[n];
        for (int i = 0; i < n; i++) {
            base[i] = i < baseRight ? 0 : 1;
            cand[i] = i < candidateRight ? 0 : 1;
        }
        return g.decide(labels, base, cand);
    }

    @Test
    void aClearlyBetterCandidateIsPromotedAndSaysWhy() {
        PromotionGate.Decision d = decide(gate, 200, 120, 140); // 20 better, 0 worse
        assertThat(d.decision()).isEqualTo("promoted");
        assertThat(d.pValue()).isCloseTo(Math.pow(0.5, 20), within(1e-12));
        assertThat(d.test()).isEqualTo("mcnemar-exact");
        assertThat(d.holdoutImages()).isEqualTo(200);
        assertThat(d.reason()).startsWith("+10.00 points, 20 images better and 0 worse, p = 0.0000 < 0.05");
    }

    @Test
    void aSmallGainOnFewDisagreementsIsNotSignificant() {
        PromotionGate.Decision d = decide(gate, 200, 120, 123); // 3 better, 0 worse: p = 1/8
        assertThat(d.decision()).isEqualTo("refused");
        assertThat(d.reason()).endsWith("not significant at 0.05");
        assertThat(d.pValue()).isCloseTo(0.125, within(1e-12));
    }

    @Test
    void aWorseOrEqualCandidateIsRefusedBelowTheMargin() {
        assertThat(decide(gate, 200, 120, 110).reason()).contains("-5.00 points").endsWith("below the margin of 0.50 points");
        assertThat(decide(gate, 200, 120, 120).decision()).isEqualTo("refused");
    }

    @Test
    void anEmptyOrTinyHoldoutIsSkippedWithItsReason() {
        PromotionGate.Decision empty = gate.decide(new int[0], new int[0], new int[0]);
        assertThat(empty.decision()).isEqualTo("skipped");
        assertThat(empty.reason()).isEqualTo("the holdout has 0 image(s), a decision needs at least 100 (--min-holdout)");
        assertThat(empty.pValue()).isNull();
        assertThat(decide(gate, 99, 50, 99).decision()).as("a large gain on too few images").isEqualTo("skipped");
        assertThat(gate.tooSmall(100)).isNull();
    }

    @Test
    void aCandidateNoBetterThanTheServedModelIsPromotedAtMostAtTheStatedRate() {
        // both models 80 % right, their mistakes independent: the candidate is exactly as good
        SplittableRandom rng = new SplittableRandom(7);
        PromotionGate noMargin = new PromotionGate(0.05, 0.0, 100);
        int trials = 4000, promoted = 0, promotedOldRule = 0;
        for (int t = 0; t < trials; t++) {
            int n = 1000;
            int[] labels = new int[n];
            int[] base = new int[n];
            int[] cand = new int[n];
            int br = 0, cr = 0;
            for (int i = 0; i < n; i++) {
                base[i] = rng.nextDouble() < 0.8 ? 0 : 1;
                cand[i] = rng.nextDouble() < 0.8 ? 0 : 1;
                br += base[i] == 0 ? 1 : 0;
                cr += cand[i] == 0 ? 1 : 0;
            }
            promoted += noMargin.decide(labels, base, cand).promoted() ? 1 : 0;
            promotedOldRule += 100.0 * (cr - br) / n >= 0.5 ? 1 : 0; // the gate before: +0.5 points
        }
        assertThat(promoted / (double) trials).as("promotions of an equal candidate").isLessThanOrEqualTo(0.05);
        assertThat(promotedOldRule / (double) trials).as("the old rule, for the record").isGreaterThan(0.25);
    }
}
