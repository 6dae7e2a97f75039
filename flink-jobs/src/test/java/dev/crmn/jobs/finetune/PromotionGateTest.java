package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

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

    /** Predictions for n images of class 0, right on the first {@code right} of them. */
    static int[] rightOnFirst(int n, int right) {
        int[] predicted = new int[n];
        for (int i = right; i < n; i++) {
            predicted[i] = 1;
        }
        return predicted;
    }

    static PromotionGate.Decision decide(PromotionGate g, int n, int baseRight, int candidateRight) {
        return g.decide(new int[n], rightOnFirst(n, baseRight), rightOnFirst(n, candidateRight));
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

    final PromotionGate lossGate = new PromotionGate(PromotionGate.Test.LOSS, 0.05, 0.0, 100);

    @Test
    void thePairedTMatchesAHandComputedValue() {
        // differences 0.1, 0.2, 0.3, 0.4: mean 0.25, sd 0.1291, t = 0.25 / (0.1291 / 2) = 3.873 on 3 degrees of freedom
        PromotionGate.PairedT t = PromotionGate.pairedT(new double[] {1.1, 1.2, 1.3, 1.4}, new double[] {1, 1, 1, 1});
        assertThat(t.meanDifference()).isCloseTo(0.25, within(1e-12));
        assertThat(t.t()).isCloseTo(3.8730, within(1e-4));
        assertThat(t.p()).isCloseTo(0.01523, within(1e-4)); // one-sided tail of Student's t(3) at 3.873
        assertThat(PromotionGate.pairedT(new double[] {1, 1}, new double[] {1, 1}).p()).as("identical").isEqualTo(1.0);
        assertThat(PromotionGate.pairedT(new double[] {2, 2}, new double[] {1, 1}).p()).as("all lower by 1").isEqualTo(0.0);
    }

    /** As {@link #decide}, the candidate's loss on each image lower by {@code gain} plus noise. */
    static PromotionGate.Decision lossDecision(PromotionGate g, int n, int baseRight, int candidateRight, double gain,
                                               double noise, long seed) {
        SplittableRandom rng = new SplittableRandom(seed);
        double[] bl = new double[n];
        double[] cl = new double[n];
        for (int i = 0; i < n; i++) {
            bl[i] = 0.5 + rng.nextDouble();
            cl[i] = bl[i] - gain + noise * (rng.nextDouble() - 0.5);
        }
        return g.decide(new int[n], rightOnFirst(n, baseRight), rightOnFirst(n, candidateRight), bl, cl);
    }

    @Test
    void theLossTestPromotesALowerLossAtEqualAccuracyAndSaysWhy() {
        PromotionGate.Decision d = lossDecision(lossGate, 1000, 800, 800, 0.02, 0.2, 1);
        assertThat(d.decision()).isEqualTo("promoted");
        assertThat(d.test()).isEqualTo("paired-t-loss");
        assertThat(d.pValue()).isLessThan(1e-10);
        assertThat(d.reason()).matches("\\+0\\.00 points, 0 images better and 0 worse, loss -0\\.02\\d\\d \\(t = \\d+\\.\\d\\d\\),"
                + " p = 0\\.0000 < 0\\.05");
    }

    @Test
    void theLossTestRefusesALowerLossThatCostsAccuracyOrIsNotSignificant() {
        PromotionGate.Decision lessAccurate = lossDecision(lossGate, 1000, 800, 799, 0.02, 0.2, 2);
        assertThat(lessAccurate.decision()).isEqualTo("refused");
        assertThat(lessAccurate.reason()).startsWith("-0.10 points").endsWith("below the margin of 0.00 points");
        PromotionGate.Decision tiny = lossDecision(lossGate, 1000, 800, 800, 0.0005, 0.4, 3);
        assertThat(tiny.decision()).isEqualTo("refused");
        assertThat(tiny.reason()).endsWith("not significant at 0.05");
        PromotionGate.Decision worse = lossDecision(lossGate, 1000, 800, 800, -0.02, 0.2, 4);
        assertThat(worse.decision()).isEqualTo("refused");
        assertThat(worse.pValue()).isGreaterThan(0.99);
        PromotionGate withMargin = new PromotionGate(PromotionGate.Test.LOSS, 0.05, 0.5, 100);
        assertThat(lossDecision(withMargin, 1000, 800, 804, 0.02, 0.2, 5).reason()).as("+0.40 < 0.5")
                .endsWith("below the margin of 0.50 points");
        assertThat(lossDecision(withMargin, 1000, 800, 805, 0.02, 0.2, 5).decision()).isEqualTo("promoted");
    }

    @Test
    void theLossTestNeedsBothLossesAndSkipsATinyHoldout() {
        assertThatThrownBy(() -> lossGate.decide(new int[200], new int[200], new int[200]))
                .hasMessage("the loss test needs both models' loss on every holdout image");
        PromotionGate.Decision empty = lossGate.decide(new int[0], new int[0], new int[0], new double[0], new double[0]);
        assertThat(empty.decision()).isEqualTo("skipped");
        assertThat(empty.test()).isEqualTo("paired-t-loss");
    }

    @ParameterizedTest
    @ValueSource(ints = {100, 1000})
    void aCandidateWhoseLossIsNoLowerIsPromotedAtMostAtTheStatedRate(int n) {
        // the same model's loss seen with noise twice (long-tailed, like cross-entropy): the candidate is as good
        SplittableRandom rng = new SplittableRandom(11);
        int trials = 4000, promoted = 0;
        for (int t = 0; t < trials; t++) {
            int[] labels = new int[n];
            int[] same = new int[n];
            double[] bl = new double[n];
            double[] cl = new double[n];
            for (int i = 0; i < n; i++) {
                double truth = -Math.log(Math.max(1e-6, rng.nextDouble())); // exponential: a long right tail
                bl[i] = truth * (0.8 + 0.4 * rng.nextDouble());
                cl[i] = truth * (0.8 + 0.4 * rng.nextDouble());
            }
            promoted += lossGate.decide(labels, same, same, bl, cl).promoted() ? 1 : 0;
        }
        assertThat(promoted / (double) trials).as("promotions of an equal candidate").isBetween(0.03, 0.06);
    }

    @Test
    void theGateTestIsNamedAndItsMarginDefaultsByTest() {
        assertThat(PromotionGate.Test.named("loss")).isEqualTo(PromotionGate.Test.LOSS);
        assertThat(PromotionGate.Test.named("mcnemar").statistic()).isEqualTo("mcnemar-exact");
        assertThatThrownBy(() -> PromotionGate.Test.named("t")).hasMessage("--gate-test t: must be loss or mcnemar");
        var c = new org.apache.flink.configuration.Configuration();
        assertThat(FineTuneOptions.gate(c)).isEqualTo(new PromotionGate(PromotionGate.Test.LOSS, 0.05, 0.0, 100));
        c.set(FineTuneOptions.GATE_TEST, "mcnemar");
        assertThat(FineTuneOptions.gate(c)).isEqualTo(new PromotionGate(PromotionGate.Test.MCNEMAR, 0.05, 0.5, 100));
        c.set(FineTuneOptions.MARGIN, 0.25);
        assertThat(FineTuneOptions.gate(c).marginPoints()).isEqualTo(0.25);
    }
}
