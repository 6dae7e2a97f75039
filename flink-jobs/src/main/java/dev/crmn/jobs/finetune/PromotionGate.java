package dev.crmn.jobs.finetune;

import java.io.Serializable;
import java.util.Locale;
import org.apache.commons.math3.distribution.TDistribution;

/**
 * Whether a candidate replaces the serving model: a paired test of the two on the same holdout images, one of two.
 *
 * <p>{@link Test#LOSS} (the default): the per-image cross-entropy of the two, {@code d_i = loss_base_i -
 * loss_candidate_i}. If the candidate were no better, the mean of the {@code d_i} would be 0 or less; the gate
 * computes Student's one-sided paired t-test, {@code t = mean(d) / (sd(d) / sqrt(n))} with {@code n - 1} degrees of
 * freedom, and promotes when its p-value is below {@code significance} and the candidate's holdout accuracy is at
 * least {@code marginPoints} points above the serving model's (0 by default: never below it). Every image says how
 * much better or worse the candidate is, not only whether it flipped from wrong to right, so a real gain is seen
 * on a smaller difference than by counting flips.
 *
 * <p>{@link Test#MCNEMAR}: only the images on which the two disagree about correctness: {@code b} that the serving
 * model gets right and the candidate wrong, {@code c} the other way. If the candidate were no better, each such
 * image would be as likely to fall either way, so {@code c} would follow Binomial(b + c, 1/2). The gate computes
 * the exact one-sided p-value P(X >= c) (McNemar's test, exact form) and promotes when it is below
 * {@code significance} and the candidate also gains at least {@code marginPoints} points of accuracy (0.5 by
 * default).
 *
 * <p>A holdout of fewer than {@code minHoldout} images decides nothing: the round is skipped.
 *
 * @param test         the paired test
 * @param significance the largest p-value that promotes (the rate at which a candidate no better than the served
 *                     model is promoted, at most)
 * @param marginPoints the smallest gain, in points of holdout accuracy
 * @param minHoldout   the fewest holdout images a decision is made on
 */
public record PromotionGate(Test test, double significance, double marginPoints, int minHoldout)
        implements Serializable {

    /** The paired tests, by the name {@code --gate-test} takes and the statistic's name {@code --json} reports. */
    public enum Test {
        /** Student's paired t-test on the per-image cross-entropy, with accuracy not below the margin. */
        LOSS("loss", "paired-t-loss", 0.0),
        /** The exact McNemar test on the images the two disagree about, with accuracy gained at least the margin. */
        MCNEMAR("mcnemar", "mcnemar-exact", 0.5);

        private final String option;
        private final String statistic;
        private final double defaultMargin;

        Test(String option, String statistic, double defaultMargin) {
            this.option = option;
            this.statistic = statistic;
            this.defaultMargin = defaultMargin;
        }

        /** The name {@code --gate-test} takes. */
        public String option() {
            return option;
        }

        /** The statistic's name, as {@code crmn finetune --json} reports it ({@code test}). */
        public String statistic() {
            return statistic;
        }

        /** {@code --margin} when not given. */
        public double defaultMargin() {
            return defaultMargin;
        }

        /** The test named {@code name} ({@code --gate-test}), or an error that lists the names. */
        public static Test named(String name) {
            for (Test t : values()) {
                if (t.option.equals(name)) {
                    return t;
                }
            }
            throw new IllegalArgumentException("--gate-test " + name + ": must be loss or mcnemar");
        }
    }

    public PromotionGate {
        RoundSettings.check(test != null, "gate-test", test, "loss or mcnemar");
        RoundSettings.check(significance > 0 && significance < 1, "significance", significance, "in (0, 1)");
        RoundSettings.check(marginPoints >= 0, "margin", marginPoints, "0 or more points");
        RoundSettings.check(minHoldout >= 1, "min-holdout", minHoldout, "1 or more images");
    }

    /** The McNemar gate (the gate of the releases before the loss test). */
    public PromotionGate(double significance, double marginPoints, int minHoldout) {
        this(Test.MCNEMAR, significance, marginPoints, minHoldout);
    }

    /** The rule in words, for the job's first line. */
    public String describe() {
        if (test == Test.LOSS) {
            return String.format(Locale.ROOT, "promoted when its per-image loss on the same %d+ holdout images is"
                    + " lower at p < %s (paired t-test, %s) and its accuracy there %s", minHoldout, significance,
                    test.statistic(), marginPoints == 0 ? "not lower"
                            : String.format(Locale.ROOT, "at least %.2f points higher", marginPoints));
        }
        return String.format(Locale.ROOT, "promoted when p < %s (%s) and at least %.2f points better on %d+ holdout"
                + " images", significance, test.statistic(), marginPoints, minHoldout);
    }

    /** What the gate decided, and the statistic it decided on. */
    public record Decision(String decision, String reason, String test, Double pValue, int holdoutImages,
                           int baseOnlyCorrect, int candidateOnlyCorrect) {

        public boolean promoted() {
            return "promoted".equals(decision);
        }

        /** This decision turned into a refusal for {@code why} (a check beyond the test), its statistic kept. */
        public Decision refusedFor(String why) {
            return new Decision("refused", reason + "; " + why, test, pValue, holdoutImages, baseOnlyCorrect,
                    candidateOnlyCorrect);
        }
    }

    /** A skipped round when the holdout is too small to decide on, else null. */
    public Decision tooSmall(int holdoutImages) {
        if (holdoutImages >= minHoldout) {
            return null;
        }
        return new Decision("skipped", "the holdout has " + holdoutImages + " image(s), a decision needs at least "
                + minHoldout + " (--min-holdout)", test.statistic(), null, holdoutImages, 0, 0);
    }

    /** A refusal that needs no test (non-finite outputs, a base that changed during the round). */
    public Decision refused(String reason, int holdoutImages) {
        return new Decision("refused", reason, test.statistic(), null, holdoutImages, 0, 0);
    }

    /** {@link #decide(int[], int[], int[], double[], double[])} for the McNemar test, which needs no losses. */
    public Decision decide(int[] labels, int[] base, int[] candidate) {
        return decide(labels, base, candidate, null, null);
    }

    /**
     * Decides on the predictions of the serving model and the candidate for the same holdout images.
     *
     * @param labels        the true class of each image
     * @param base          the serving model's predicted class of each image
     * @param candidate     the candidate's predicted class of each image
     * @param baseLoss      the serving model's cross-entropy on each image (the loss test; may be null for McNemar)
     * @param candidateLoss the candidate's cross-entropy on each image (likewise)
     */
    public Decision decide(int[] labels, int[] base, int[] candidate, double[] baseLoss, double[] candidateLoss) {
        if (labels.length != base.length || labels.length != candidate.length) {
            throw new IllegalArgumentException("labels and predictions differ in number");
        }
        if (test == Test.LOSS && (baseLoss == null || candidateLoss == null || baseLoss.length != labels.length
                || candidateLoss.length != labels.length)) {
            throw new IllegalArgumentException("the loss test needs both models' loss on every holdout image");
        }
        Decision small = tooSmall(labels.length);
        if (small != null) {
            return small;
        }
        int b = 0, c = 0, baseRight = 0, candidateRight = 0;
        for (int i = 0; i < labels.length; i++) {
            boolean br = base[i] == labels[i];
            boolean cr = candidate[i] == labels[i];
            baseRight += br ? 1 : 0;
            candidateRight += cr ? 1 : 0;
            if (br && !cr) {
                b++;
            } else if (cr && !br) {
                c++;
            }
        }
        double gain = 100.0 * (candidateRight - baseRight) / labels.length;
        String counts = String.format(Locale.ROOT, "%+.2f points, %d images better and %d worse", gain, c, b);
        double p;
        String stat;
        boolean ahead;
        if (test == Test.LOSS) {
            PairedT t = pairedT(baseLoss, candidateLoss);
            p = t.p();
            stat = String.format(Locale.ROOT, "%s, loss %+.4f (t = %.2f), p = %.4f", counts, -t.meanDifference(), t.t(), p);
            ahead = gain >= marginPoints;
        } else {
            p = upperTail(c, b + c);
            stat = String.format(Locale.ROOT, "%s, p = %.4f", counts, p);
            ahead = gain >= marginPoints && c > b;
        }
        String decision;
        String reason;
        if (!ahead) {
            decision = "refused";
            reason = stat + ": below the margin of " + String.format(Locale.ROOT, "%.2f", marginPoints) + " points";
        } else if (p >= significance) {
            decision = "refused";
            reason = stat + ": not significant at " + significance;
        } else {
            decision = "promoted";
            reason = stat + " < " + significance;
        }
        return new Decision(decision, reason, test.statistic(), p, labels.length, b, c);
    }

    /** A paired t-test's result: the mean of base − candidate, the statistic and its one-sided p-value. */
    record PairedT(double meanDifference, double t, double p) {
    }

    /**
     * Student's one-sided paired t-test that {@code candidate}'s values are lower than {@code base}'s. Identical
     * differences (no spread) give p = 0 when the candidate is lower and 1 else.
     */
    static PairedT pairedT(double[] base, double[] candidate) {
        int n = base.length;
        double sum = 0;
        for (int i = 0; i < n; i++) {
            sum += base[i] - candidate[i];
        }
        double mean = sum / n;
        double ss = 0;
        for (int i = 0; i < n; i++) {
            double e = base[i] - candidate[i] - mean;
            ss += e * e;
        }
        double sd = n > 1 ? Math.sqrt(ss / (n - 1)) : 0;
        if (!(sd > 0) || !Double.isFinite(mean)) {
            return new PairedT(mean, mean > 0 ? Double.POSITIVE_INFINITY : 0, mean > 0 ? 0 : 1);
        }
        double t = mean / (sd / Math.sqrt(n));
        double p = 1 - new TDistribution(null, n - 1).cumulativeProbability(t);
        return new PairedT(mean, t, Math.max(0, p));
    }

    /** P(X >= k) for X ~ Binomial(n, 1/2), exactly (in log space: n may be thousands). */
    public static double upperTail(int k, int n) {
        if (k <= 0) {
            return 1.0;
        }
        if (k > n) {
            return 0.0;
        }
        double logPmf = -n * Math.log(2); // P(X = 0)
        double[] logs = new double[n + 1];
        logs[0] = logPmf;
        for (int i = 0; i < n; i++) {
            logs[i + 1] = logs[i] + Math.log(n - i) - Math.log(i + 1);
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int i = k; i <= n; i++) {
            max = Math.max(max, logs[i]);
        }
        double sum = 0;
        for (int i = k; i <= n; i++) {
            sum += Math.exp(logs[i] - max);
        }
        return Math.min(1.0, Math.exp(max) * sum);
    }
}
