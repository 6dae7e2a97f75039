package dev.crmn.jobs.finetune;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import dev.crmn.model.train.ReplicaThreads;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.BooleanSupplier;
import org.deeplearning4j.nn.conf.CNN2DFormat;

/**
 * The learner: one fine-tuning run that goes on across rounds at a constant learning rate, its weight average the
 * candidate of each round. One job: a round's training and the two evaluations the gate compares. It starts again
 * (from the base) when the base is a version it did not grow from: the first round, or a version announced
 * elsewhere, adopted or rolled back to. Not in state (after a restore it starts again from the serving version).
 * Used on the trainer thread only.
 */
final class Learner implements AutoCloseable {

    /**
     * What a round hands back to the task thread: the candidate, the base on the same holdout, speed, and the
     * forgetting check (null without one: {@link Anchor}).
     */
    record Result(FineTuning.Candidate candidate, EvaluationReport baseEval, double seconds, double imagesPerSecond,
                  Forgetting forgetting) {

        /** Whether the candidate is ahead of the base on the holdout ({@link #progressed}). */
        boolean progressed() {
            return Learner.progressed(baseEval, candidate.holdout());
        }
    }

    /**
     * Whether a candidate is ahead of the base it is judged against on the same holdout images, in accuracy or in mean
     * loss: the learner is still improving even where the gate refused it (not yet significant). The loss counts
     * because accuracy on ~2,000 images moves by a few tenths of a point from one round to the next by chance alone,
     * and a version the gate has just promoted was chosen for such a lucky draw: against it the next candidates of a
     * learner that is still improving look worse in accuracy for a few rounds, while their loss, which nothing was
     * chosen on, is lower. Quiet rounds stop after {@code --patience} refused candidates that did not progress.
     */
    static boolean progressed(EvaluationReport base, EvaluationReport candidate) {
        return candidate.accuracy() > base.accuracy() || candidate.loss() < base.loss();
    }

    /**
     * The forgetting check of a candidate: its accuracy on the anchor's held-out images against the reference, the
     * accuracy there of the version fine-tuning started from (kept in each promoted version's manifest, {@code
     * training.anchor_check}, so that a restart or a promoted version keeps the first reference).
     */
    record Forgetting(double accuracy, double reference, int images, double maxPoints) {

        double pointsLost() {
            return 100 * (reference - accuracy);
        }

        boolean forgot() {
            return pointsLost() > maxPoints;
        }

        /** The gate's decision {@code d}, refused when it promoted a candidate that forgot. */
        PromotionGate.Decision judge(PromotionGate.Decision d) {
            if (!d.promoted() || !forgot()) {
                return d;
            }
            return d.refusedFor(String.format("but it forgets: %.2f %% on %d held-out anchor images, %.2f points below"
                    + " the %.2f %% of the version fine-tuning started from (--max-forgetting %.2f)", 100 * accuracy,
                    images, pointsLost(), 100 * reference, maxPoints));
        }

        Map<String, Object> record(String digest) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("images", images);
            m.put("digest", digest);
            m.put("reference_accuracy", reference);
            m.put("accuracy", accuracy);
            return m;
        }
    }

    /** The training record's key of the forgetting check. */
    static final String ANCHOR_CHECK = "anchor_check";

    private final RoundSettings settings;
    /** Copies of the network that share each step ({@link RoundSettings#learnerThreads(int)}). */
    private final int replicas;
    /** Their threads, kept from one run to the next (a new thread's allocator memory outlives it). */
    private ReplicaThreads replicaThreads;
    /** The anchor's held-out images (empty: no forgetting check) and their fingerprint. */
    private final List<Example> check;
    private final String checkDigest;
    private ImageSet checkSet;
    /** The forgetting check's reference for the current run. */
    private double reference = Double.NaN;
    private FineTuning run;
    /** The base generation the run grew from (see {@link #round}), and its distillation weight. */
    private long generation = -1;
    private double weight;
    /** A network's evaluation on holdout images: the network by identity, the images by identity, in order. */
    private record Evaluated(Object network, List<Example> images, EvaluationReport report) {
        boolean of(Object net, List<Example> judged) {
            return network == net && sameImages(images, judged);
        }
    }

    /** The last evaluation of a base on a holdout. */
    private Evaluated baseEvaluation;
    /** The last candidate's: once promoted it is the next round's base, evaluated on these images already. */
    private Evaluated candidateEvaluation;

    Learner(RoundSettings settings, Anchor.Images anchor, int replicas) {
        this.settings = settings;
        this.replicas = replicas;
        this.check = anchor == null ? List.of() : anchor.check();
        this.checkDigest = anchor == null ? "" : anchor.checkDigest();
    }

    /**
     * The distillation weight of a run after {@code forgettings} candidates were refused for forgetting: 0.5 after
     * the first, 0.75 from the second on (the labels still decide a quarter), never below {@code --distillation}.
     */
    static double distillation(double configured, int forgettings) {
        return Math.max(configured, forgettings == 0 ? 0 : forgettings == 1 ? 0.5 : 0.75);
    }

    /**
     * Round {@code number}: {@code --round-steps} more steps on {@code train} (a new run first when {@code
     * generation}, a count the task thread raises on each base it did not promote itself, is not the run's, or when
     * {@code forgettings}, the candidates refused for forgetting, raise the distillation weight ({@link
     * #distillation(double, int)}): a new run from {@code base}, the serving version, that leans on it more; else the
     * run goes on, since restarting it each round would keep it at its first steps), then the run's average on
     * {@code holdout} (the candidate) and the base on the same images. Null when {@code stop} interrupted it.
     */
    Result round(TrainingFrames.Round r, Checkpoints.Loaded base, long generation, int forgettings,
                 BooleanSupplier stop) {
        long started = System.nanoTime();
        long number = r.number();
        ImageSet train = r.trainSet(base.manifest());
        ImageSet holdout = r.holdoutSet(base.manifest());
        double weight = distillation(settings.distillation(), forgettings);
        if (run == null || this.generation != generation || this.weight != weight) {
            closeRun();
            FineTuneSettings s = FineTuneSettings.builder().steps(settings.steps()).batchSize(settings.batchSize())
                    .learningRate(settings.learningRate()).schedule(FineTuneSettings.Schedule.CONSTANT)
                    .averageDecay(settings.averageDecay())
                    .distillation(weight)
                    .seed(TrainingFrames.SEED + number).replicas(replicas).build();
            if (replicas > 1 && replicaThreads == null) { // on the trainer thread: they get its OpenMP threads
                replicaThreads = ReplicaThreads.start(replicas - 1);
            }
            run = FineTuning.start(base.manifest(), base.network(), train, s, replicaThreads);
            this.generation = generation;
            this.weight = weight;
            reference = check.isEmpty() ? Double.NaN : reference(base);
        } else {
            run.continueOn(train, settings.steps());
        }
        long steps0 = run.stepsDone();
        long t0 = System.nanoTime();
        run.run(settings.steps(), stop);
        if (stop.getAsBoolean()) {
            return null;
        }
        double ips = (run.stepsDone() - steps0) * (double) Math.min(settings.batchSize(), train.size())
                / Math.max(1e-9, (System.nanoTime() - t0) / 1e9);
        Map<String, Object> lineage = r.lineage(settings.labelledTopic());
        FineTuning.Candidate c = run.snapshot(base.manifest(), holdout, lineage);
        Forgetting f = null;
        if (!check.isEmpty()) {
            f = new Forgetting(evaluate(c.network(), base).accuracy(), reference, check.size(),
                    settings.anchor().maxForgetting());
            Map<String, Object> training = new LinkedHashMap<>(c.training());
            training.put(ANCHOR_CHECK, f.record(checkDigest));
            c = new FineTuning.Candidate(c.base(), c.network(), c.steps(), c.holdout(), training);
        }
        EvaluationReport baseEval = baseOn(base, r.judged(), holdout);
        candidateEvaluation = new Evaluated(c.network(), List.copyOf(r.judged()), c.holdout());
        return new Result(c, baseEval, (System.nanoTime() - started) / 1e9, ips, f);
    }

    /**
     * The reference of a run from {@code base}: the one its manifest carries for these check images (a version this
     * job promoted: the reference it was checked against), else the base's own accuracy on them.
     */
    private double reference(Checkpoints.Loaded base) {
        if (base.manifest().training() != null && base.manifest().training().get(ANCHOR_CHECK) instanceof Map<?, ?> m
                && checkDigest.equals(m.get("digest")) && m.get("reference_accuracy") instanceof Number n) {
            return n.doubleValue();
        }
        return evaluate(base.network(), base).accuracy();
    }

    private EvaluationReport evaluate(org.deeplearning4j.nn.graph.ComputationGraph net, Checkpoints.Loaded base) {
        if (checkSet == null) {
            checkSet = TrainingFrames.imageSet(check, base.manifest(), "anchor check " + check.size());
        }
        return Evaluator.evaluate(net, checkSet, base.manifest().normalization(),
                CNN2DFormat.valueOf(base.manifest().input().layout()), 256);
    }

    /**
     * The base's evaluation on the holdout: computed again only when the base or the holdout changed (a quiet
     * stream's rounds judge the same base on the same images, and an evaluation costs seconds); nor when the base is
     * the last round's candidate, promoted, and the images are those it was judged on.
     */
    private EvaluationReport baseOn(Checkpoints.Loaded loaded, List<Example> judged, ImageSet holdout) {
        if (candidateEvaluation != null && candidateEvaluation.of(loaded.network(), judged)) {
            baseEvaluation = candidateEvaluation;
        } else if (baseEvaluation == null || !baseEvaluation.of(loaded.network(), judged)) {
            baseEvaluation = new Evaluated(loaded.network(), List.copyOf(judged), Evaluator.evaluate(loaded.network(), holdout,
                    loaded.manifest().normalization(), CNN2DFormat.valueOf(loaded.manifest().input().layout()), 256));
        }
        return baseEvaluation.report();
    }

    private static boolean sameImages(List<Example> a, List<Example> b) {
        if (a == null || a.size() != b.size()) {
            return false;
        }
        for (int i = 0; i < a.size(); i++) {
            if (a.get(i) != b.get(i)) {
                return false;
            }
        }
        return true;
    }

    /** Frees the run's network (on the trainer thread, or once it stopped). */
    @Override
    public void close() {
        closeRun();
        if (replicaThreads != null) {
            replicaThreads.close();
            replicaThreads = null;
        }
    }

    private void closeRun() {
        if (run != null) {
            run.close();
            run = null;
        }
    }
}
