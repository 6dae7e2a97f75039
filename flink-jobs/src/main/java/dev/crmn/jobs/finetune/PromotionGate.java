package dev.crmn.jobs.finetune;

import java.io.Serializable;

/**
 * Whether a candidate replaces the serving model: a paired test of the two on the same holdout images.
 *
 * <p>Only the images on which the two disagree about correctness carry information: {@code b} that the serving
 * model gets right and the candidate wrong, {@code c} the other way. If the candidate were no better, each such
 * image would be as likely to fall either way, so {@code c} would follow Binomial(b + c, 1/2). The gate computes
 * the exact one-sided p-value P(X >= c) (McNemar's test, exact form) and promotes when it is below
 * {@code significance} and the candidate also gains at least {@code marginPoints} points of accuracy. A holdout of
 * fewer than {@code minHoldout} images decides nothing: the round is skipped.
 *
 * @param significance the largest p-value that promotes (the rate at which a candidate no better than the served
 *                     model is promoted, at most)
 * @param marginPoints the smallest gain, in points of holdout accuracy
 * @param minHoldout   the fewest holdout images a decision is made on
 */
public record PromotionGate(double significance, double marginPoints, int minHoldout) implements Serializable {

    /** The name of the test, as {@code crmn finetune --json} reports it. */
    public static final String TEST = "mcnemar-exact";

    public PromotionGate {
        RoundSettings.check(significance > 0 && significance < 1, "significance", significance, "in (0, 1)");
        RoundSettings.check(marginPoints >= 0, "margin", marginPoints, "0 or more points");
        RoundSettings.check(minHoldout >= 1, "min-holdout", minHoldout, "1 or more images");
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
                + minHoldout + " (--min-holdout)", TEST, null, holdoutImages, 0, 0);
    }

    /** A refusal that needs no test (non-finite outputs, a base that changed during the round). */
    public Decision refused(String reason, int holdoutImages) {
        return new Decision("refused", reason, TEST, null, holdoutImages, 0, 0);
    }

    /**
     * Decides on the predictions of the serving model and the candidate for the same holdout images.
     *
     * @param labels    the true class of each image
     * @param base      the serving model's predicted class of each image
     * @param candidate the candidate's predicted class of each image
     */
    public Decision decide(int[] labels, int[] base, int[] candidate) {
        if (labels.length != base.length || labels.length != candidate.length) {
            throw new IllegalArgumentException("labels and predictions differ in number");
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
        double p = upperTail(c, b + c);
        String stat = String.format("%+.2f points, %d images better and %d worse, p = %.4f", gain, c, b, p);
        String decision;
        String reason;
        if (gain < marginPoints || c <= b) {
            decision = "refused";
            reason = stat + ": below the margin of " + String.format("%.2f", marginPoints) + " points";
        } else if (p >= significance) {
            decision = "refused";
            reason = stat + ": not significant at " + significance;
        } else {
            decision = "promoted";
            reason = stat + " < " + significance;
        }
        return new Decision(decision, reason, TEST, p, labels.length, b, c);
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
