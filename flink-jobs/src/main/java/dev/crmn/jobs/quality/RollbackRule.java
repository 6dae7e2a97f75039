package dev.crmn.jobs.quality;

import java.io.Serializable;

/**
 * When the quality job rolls a version back: its live accuracy is significantly below that of the version it
 * replaced. The statistics, in plain words (docs/rollout.md):
 * <ul>
 *   <li><b>The test.</b> The two versions classified different frames, so the comparison is of two independent
 *       proportions: a one-sided two-proportion z-test (pooled). Its p-value is the chance of seeing the new
 *       version this far below the old one if it were in fact no worse.</li>
 *   <li><b>When it looks.</b> A version is tested when it has {@code minLabelled} labelled predictions, then at twice
 *       as many, four times, ... (look 0, 1, 2, ...), and only when the old version has {@code minLabelled} too.
 *       Look {@code k} rolls back when p &lt; {@code alpha / 2^(k+1)}. The levels add up to {@code alpha}, so
 *       however long a version serves, the chance that a version as good as the one it replaced is ever rolled
 *       back stays below {@code alpha} (a test after every label at level {@code alpha} would spend it many
 *       times over).</li>
 * </ul>
 */
public record RollbackRule(int minLabelled, double alpha) implements Serializable {

    public static final String TEST = "two-proportion-z-one-sided";

    public RollbackRule {
        if (minLabelled < 1 || !(alpha > 0 && alpha < 1)) {
            throw new IllegalArgumentException("--min-labelled must be >= 1 and --alpha in (0, 1)");
        }
    }

    /** The look a version with {@code labelled} labelled predictions has reached: -1 before the first. */
    public int look(long labelled) {
        if (labelled < minLabelled) {
            return -1;
        }
        int k = 0;
        while (labelled >= (long) minLabelled << (k + 1) && k < 40) {
            k++;
        }
        return k;
    }

    /** The level of look {@code k}. */
    public double alphaAt(int k) {
        return alpha / Math.pow(2, k + 1);
    }

    /**
     * The one-sided p-value of "the new version is no worse than the old" given {@code newCorrect} of {@code
     * newLabelled} and {@code oldCorrect} of {@code oldLabelled}: P(Z ≥ z), z = (old − new − c) / pooled standard
     * error, with Yates' continuity correction c = (1/n_new + 1/n_old) / 2 (counts are whole numbers; without it the
     * normal tail understates the chance of a low count near 80 % accuracy, and the levels were exceeded: measured
     * in {@code RollbackRuleTest}).
     * 1 when both are perfect or both always wrong (nothing to tell them apart).
     */
    public static double pValue(long newCorrect, long newLabelled, long oldCorrect, long oldLabelled) {
        if (newLabelled < 1 || oldLabelled < 1) {
            return 1;
        }
        double pNew = (double) newCorrect / newLabelled;
        double pOld = (double) oldCorrect / oldLabelled;
        double pooled = (double) (newCorrect + oldCorrect) / (newLabelled + oldLabelled);
        double se = Math.sqrt(pooled * (1 - pooled) * (1.0 / newLabelled + 1.0 / oldLabelled));
        if (se == 0) {
            return 1;
        }
        double continuity = 0.5 * (1.0 / newLabelled + 1.0 / oldLabelled);
        return upperTail((pOld - pNew - continuity) / se);
    }

    /** P(Z ≥ z) for a standard normal Z (through the complementary error function). */
    static double upperTail(double z) {
        return 0.5 * erfc(z / Math.sqrt(2));
    }

    /** erfc(x), relative error below 1.2e-7 (Numerical Recipes' Chebyshev fit). */
    private static double erfc(double x) {
        double t = 1 / (1 + 0.5 * Math.abs(x));
        double y = t * Math.exp(-x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418
                + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587
                + t * (-0.82215223 + t * 0.17087277)))))))));
        return x >= 0 ? y : 2 - y;
    }
}
