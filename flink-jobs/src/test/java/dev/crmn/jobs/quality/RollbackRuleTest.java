package dev.crmn.jobs.quality;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.within;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** The rollback test's looks, levels and p-values, and what its alpha spending buys (simulated). */
class RollbackRuleTest {

    private final RollbackRule rule = new RollbackRule(200, 0.01);

    @Test
    void looksAtTheMinimumThenAtEachDoubling() {
        assertThat(rule.look(199)).isEqualTo(-1);
        assertThat(rule.look(200)).isZero();
        assertThat(rule.look(399)).isZero();
        assertThat(rule.look(400)).isEqualTo(1);
        assertThat(rule.look(800)).isEqualTo(2);
        assertThat(rule.look(5000)).isEqualTo(4);
        assertThat(rule.alphaAt(0)).isEqualTo(0.005);
        assertThat(rule.alphaAt(1)).isEqualTo(0.0025);
        double spent = 0;
        for (int k = 0; k < 40; k++) {
            spent += rule.alphaAt(k);
        }
        assertThat(spent).as("the levels of all looks add up to alpha").isCloseTo(0.01, within(1e-9));
    }

    @Test
    void pValuesOfTheOneSidedTwoProportionTest() {
        assertThat(RollbackRule.pValue(160, 200, 160, 200)).as("equal: the continuity correction leans to keeping it")
                .isBetween(0.5, 0.6);
        assertThat(RollbackRule.pValue(100, 200, 800, 1000)).as("50 %% against 80 %%").isLessThan(1e-12);
        assertThat(RollbackRule.pValue(180, 200, 800, 1000)).as("better: no evidence of worse").isGreaterThan(0.99);
        // 75 % of 400 against 80 % of 1,000: z = (0.05 - 0.00175) / 0.02428 = 1.987, p = 0.0235 (normal table)
        assertThat(RollbackRule.pValue(300, 400, 800, 1000)).isCloseTo(0.0235, within(0.0005));
        assertThat(RollbackRule.pValue(200, 200, 1000, 1000)).as("both perfect").isEqualTo(1);
        assertThat(RollbackRule.upperTail(1.959964)).isCloseTo(0.025, within(1e-6));
    }

    /**
     * A version exactly as good as the one it replaced (80 %), 5,000 labelled predictions each, tested after every
     * label the way the job does: rolled back in at most alpha of runs. Testing at alpha after every label instead
     * would roll it back many times more often.
     */
    @Test
    void anEqualVersionIsRolledBackInAtMostAlphaOfRunsWhileNaiveRepeatedTestsWouldOftenDoIt() {
        SplittableRandom rng = new SplittableRandom(21);
        int runs = 20_000;
        int spending = 0;
        int naive = 0;
        for (int run = 0; run < runs; run++) {
            long oldCorrect = 0;
            for (int i = 0; i < 5000; i++) {
                oldCorrect += rng.nextDouble() < 0.8 ? 1 : 0;
            }
            long c = 0;
            int lastLook = -1;
            boolean rolledSpending = false;
            boolean rolledNaive = false;
            for (int n = 1; n <= 5000; n++) {
                c += rng.nextDouble() < 0.8 ? 1 : 0;
                if (n < 200) {
                    continue;
                }
                int look = rule.look(n);
                if (look > lastLook) {
                    lastLook = look;
                    rolledSpending |= RollbackRule.pValue(c, n, oldCorrect, 5000) < rule.alphaAt(look);
                }
                if (n % 10 == 0) {
                    rolledNaive |= RollbackRule.pValue(c, n, oldCorrect, 5000) < 0.01;
                }
            }
            spending += rolledSpending ? 1 : 0;
            naive += rolledNaive ? 1 : 0;
        }
        System.out.printf("equal versions: rolled back in %d of %d runs by the job's looks, in %d testing every 10 labels%n", spending, runs, naive);
        assertThat(spending / (double) runs).as("false rollbacks with the job's looks").isLessThanOrEqualTo(0.01);
        assertThat(naive).as("false rollbacks testing every 10 labels at alpha").isGreaterThan(3 * Math.max(1, spending));
    }

    @Test
    void aClearlyWorseVersionIsCaughtAtItsFirstLook() {
        // 60 % where the replaced version had 80 % on 1,000: rolled back at 200 labelled predictions
        assertThat(RollbackRule.pValue(120, 200, 800, 1000)).isLessThan(rule.alphaAt(0));
    }
}
