package dev.crmn.jobs.finetune;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import java.util.List;
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

    /** What a round hands back to the task thread: the candidate, the base on the same holdout, and speed. */
    record Result(FineTuning.Candidate candidate, EvaluationReport baseEval, double seconds, double imagesPerSecond) {
    }

    private final RoundSettings settings;
    private FineTuning run;
    /** The base generation the run grew from (see {@link #round}). */
    private long generation = -1;
    /** The last evaluation of a base on a holdout, the base's network (identity) and the holdout's images. */
    private EvaluationReport baseEval;
    private Object baseEvaluated;
    private List<Example> evaluatedOn;

    Learner(RoundSettings settings) {
        this.settings = settings;
    }

    /**
     * Round {@code number}: {@code --round-steps} more steps on {@code train} (a new run first when {@code
     * generation}, a count the task thread raises on each base it did not promote itself, is not the run's), then
     * the run's average on {@code holdout} (the candidate) and the base on the same images. Null when {@code stop}
     * interrupted it.
     */
    Result round(TrainingFrames.Round r, Checkpoints.Loaded base, long generation, BooleanSupplier stop) {
        long started = System.nanoTime();
        long number = r.number();
        ImageSet train = r.trainSet(base.manifest());
        ImageSet holdout = r.holdoutSet(base.manifest());
        if (run == null || this.generation != generation) {
            close();
            FineTuneSettings s = FineTuneSettings.builder().steps(settings.steps()).batchSize(settings.batchSize())
                    .learningRate(settings.learningRate()).schedule(FineTuneSettings.Schedule.CONSTANT)
                    .averageDecay(settings.averageDecay())
                    .distillation(settings.distillation())
                    .seed(TrainingFrames.SEED + number).build();
            run = FineTuning.start(base.manifest(), base.network(), train, s);
            this.generation = generation;
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
        FineTuning.Candidate c = run.snapshot(base.manifest(), holdout, r.lineage(settings.labelledTopic()));
        return new Result(c, baseOn(base, r.judged(), holdout), (System.nanoTime() - started) / 1e9, ips);
    }

    /**
     * The base's evaluation on the holdout: computed again only when the base or the holdout changed (a quiet
     * stream's rounds judge the same base on the same images, and an evaluation costs seconds).
     */
    private EvaluationReport baseOn(Checkpoints.Loaded base, List<Example> judged, ImageSet holdout) {
        if (baseEvaluated != base.network() || !sameImages(evaluatedOn, judged)) {
            baseEval = Evaluator.evaluate(base.network(), holdout, base.manifest().normalization(),
                    CNN2DFormat.valueOf(base.manifest().input().layout()), 256);
            baseEvaluated = base.network();
            evaluatedOn = List.copyOf(judged);
        }
        return baseEval;
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
        if (run != null) {
            run.close();
            run = null;
        }
    }
}
