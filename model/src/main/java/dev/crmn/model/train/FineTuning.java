package dev.crmn.model.train;

import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.graph.Graphs;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import java.util.function.BooleanSupplier;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Fine-tunes a trained checkpoint: from its weights and updater state, exactly {@link FineTuneSettings#steps()}
 * more optimisation steps on in-memory data, with their own learning-rate schedule, then an evaluation on a
 * holdout the caller passes in. It trains a copy: the base network (which may be serving) is never touched.
 * The result is a {@link Candidate} without a version: whoever publishes it (a model store, the fine-tuning
 * job) decides the number.
 *
 * <pre>{@code
 * try (FineTuning run = FineTuning.start(base.manifest(), base.network(), newImages, settings)) {
 *     while (!run.finished()) {
 *         run.run(20, stop::get);          // bounded slices, e.g. one per mailbox action; stop between steps
 *     }
 *     Candidate c = run.finish(holdout, Map.of("source", "frames-labelled"));
 *     Checkpoints.write(dir, c.network(), c.manifest(nextVersion));
 * }
 * }</pre>
 *
 * <p>Not thread-safe: one thread drives a run. The copy's native memory is freed by {@link #close()} unless
 * {@link #finish} handed it to the candidate, whose own {@code close()} frees it.
 */
public final class FineTuning implements AutoCloseable {

    private final Manifest base;
    private final ComputationGraph net;
    private ImageSet train;
    private final FineTuneSettings settings;
    private final CNN2DFormat layout;
    private int batchSize;
    private long planned;
    private final Random augment;
    private final Random shuffle;
    private int[] order;
    private int cursor;
    private long stepsDone;
    /** The learning rate last set on the network (NaN before the first step). */
    private double learningRate = Double.NaN;
    /** What the schedule's rate is multiplied by ({@link #scaleLearningRate}). */
    private double rateScale = 1;
    private double lossSum;
    private long nanos;
    private boolean handedOver;
    /** The moving average of the weights (with {@link FineTuneSettings#averaging()}), else null. */
    private INDArray average;
    /** A frozen copy of the base whose predictions the targets mix in (with {@link FineTuneSettings#distilling()}). */
    private ComputationGraph teacher;
    /** The replicas that share each step (with {@link FineTuneSettings#replicas()} above 1), else null. */
    private DataParallel parallel;

    private FineTuning(Manifest base, ComputationGraph net, ComputationGraph teacher, DataParallel parallel,
                       ImageSet train, FineTuneSettings settings) {
        this.base = base;
        this.net = net;
        this.teacher = teacher;
        this.parallel = parallel;
        this.train = train;
        this.settings = settings;
        this.layout = CNN2DFormat.valueOf(base.input().layout());
        this.batchSize = Math.min(settings.batchSize(), train.size());
        this.planned = settings.steps();
        this.augment = new Random(settings.seed() * 31 + 1);
        this.shuffle = new Random(settings.seed());
        this.average = settings.averaging() ? net.params().dup() : null;
    }

    /**
     * Starts a fine-tune of {@code baseNetwork} (described by {@code base}; loaded with its updater state to
     * continue the optimiser's momentum) on {@code train}. The network is copied; the original is not changed. With
     * more than one replica, the replicas' threads get the calling thread's OpenMP thread count.
     *
     * @throws IllegalArgumentException if the data's classes or image shape differ from the checkpoint's, or
     *                                  there is no data
     */
    public static FineTuning start(Manifest base, ComputationGraph baseNetwork, ImageSet train, FineTuneSettings settings) {
        return start(base, baseNetwork, train, settings, null);
    }

    /**
     * As {@link #start(Manifest, ComputationGraph, ImageSet, FineTuneSettings)}, the replicas (with {@link
     * FineTuneSettings#replicas()} above 1) on {@code threads}, which the run uses and does not close (a learner that
     * restarts its run keeps them); null: the run starts its own and closes them with itself.
     *
     * @throws IllegalArgumentException also if {@code threads} are not one per replica besides the trained network
     */
    public static FineTuning start(Manifest base, ComputationGraph baseNetwork, ImageSet train, FineTuneSettings settings,
                                   ReplicaThreads threads) {
        if (threads != null && threads.size() != settings.replicas() - 1) {
            throw new IllegalArgumentException(threads.size() + " replica thread(s) for " + settings.replicas()
                    + " replicas (one per replica besides the trained network)");
        }
        check(base, train);
        ComputationGraph copy = Graphs.copy(baseNetwork); // parameters and updater state (momentum) copied
        ComputationGraph teacher = null;
        try {
            if (settings.fastPath()) {
                TrainingFastPath.apply(copy);
            }
            teacher = settings.distilling() ? Graphs.copy(baseNetwork) : null; // the base may be freed before the run
            DataParallel parallel = settings.replicas() < 2 ? null : threads != null
                    ? new DataParallel(copy, teacher, threads, false, settings.fastPath())
                    : new DataParallel(copy, teacher, ReplicaThreads.start(settings.replicas() - 1), true, settings.fastPath());
            return new FineTuning(base, copy, teacher, parallel, train, settings);
        } catch (RuntimeException | Error e) {
            Graphs.free(copy);
            if (teacher != null) {
                Graphs.free(teacher);
            }
            throw e;
        }
    }

    private static void check(Manifest base, ImageSet train) {
        if (train.size() == 0) {
            throw new IllegalArgumentException("no training images");
        }
        if (!train.classNames().equals(base.labels())) {
            throw new IllegalArgumentException("training data classes " + train.classNames() + " differ from "
                    + base.displayName() + "'s " + base.labels());
        }
        if (train.height() != base.input().height() || train.width() != base.input().width()
                || train.channels() != base.input().channels()) {
            throw new IllegalArgumentException("training images are " + train.height() + "x" + train.width() + "x"
                    + train.channels() + ", " + base.displayName() + " takes " + base.input().height() + "x"
                    + base.input().width() + "x" + base.input().channels());
        }
    }

    /**
     * Continues the run on other data for {@code moreSteps} more steps (a learner that goes on across the rounds of
     * a stream: the weights, their average and the optimiser's momentum carry on). Only with the
     * {@link FineTuneSettings.Schedule#CONSTANT} schedule: a cosine has ended at its last step.
     *
     * @throws IllegalArgumentException as {@link #start} for data that does not fit the checkpoint
     * @throws IllegalStateException    with a cosine schedule, or once the run is finished
     */
    public void continueOn(ImageSet data, long moreSteps) {
        if (handedOver) {
            throw new IllegalStateException("the run is finished");
        }
        if (settings.schedule() != FineTuneSettings.Schedule.CONSTANT) {
            throw new IllegalStateException("only a run at a constant learning rate goes on; this one's "
                    + settings.schedule() + " schedule ended at its last step");
        }
        if (moreSteps < 1) {
            throw new IllegalArgumentException("a run goes on for at least one step, got " + moreSteps);
        }
        check(base, data);
        train = data;
        batchSize = Math.min(settings.batchSize(), data.size());
        order = null;
        planned = Math.max(planned, stepsDone) + moreSteps;
    }

    /** Epochs of {@code train} as a number of steps of {@code batchSize} images (at least one). */
    public static long stepsForEpochs(double epochs, int trainImages, int batchSize) {
        return Math.max(1, Math.round(epochs * (trainImages / Math.min(batchSize, trainImages))));
    }

    /**
     * Trains up to {@code maxSteps} more steps (fewer when the run's steps are done), checking {@code stop}
     * and the thread's interrupt flag before each step.
     *
     * @return the steps trained by this call
     * @throws IllegalStateException if training diverges (non-finite loss)
     */
    public int run(int maxSteps, BooleanSupplier stop) {
        if (handedOver) {
            throw new IllegalStateException("the run is finished");
        }
        int n = 0;
        long t0 = System.nanoTime();
        try {
            while (n < maxSteps && stepsDone < planned && !stop.getAsBoolean()
                    && !Thread.currentThread().isInterrupted()) {
                double lr = settings.learningRateAt(stepsDone) * rateScale;
                if (lr != learningRate) { // DL4J walks every layer's configuration to set it: only when it changes
                    net.setLearningRate(lr);
                    learningRate = lr;
                }
                lossSum += TrainingStep.fit(net, parallel, teacher, settings.distillation(), train, nextBatch(),
                        base.normalization(), layout, settings.augment() ? augment : null, settings.cutout(),
                        settings.labelSmoothing());
                if (average != null) {
                    // avg = d * avg + (1 - d) * w, as d * (avg - w) + w: in place, no array allocated per step
                    INDArray w = net.params();
                    average.subi(w).muli(settings.averageDecay()).addi(w);
                }
                stepsDone++;
                n++;
            }
        } finally {
            nanos += System.nanoTime() - t0;
        }
        return n;
    }

    /** The next mini-batch: passes over the data in a fresh random order each, the last partial batch dropped. */
    private int[] nextBatch() {
        if (order == null || cursor + batchSize > order.length) {
            order = ImageSet.permutation(train.size(), shuffle);
            cursor = 0;
        }
        int[] idx = Arrays.copyOfRange(order, cursor, cursor + batchSize);
        cursor += batchSize;
        return idx;
    }

    /**
     * Multiplies the learning rate of the steps from now on by {@code factor} (on top of earlier scalings): a learner
     * that has stopped improving anneals.
     */
    public void scaleLearningRate(double factor) {
        if (!(factor > 0)) {
            throw new IllegalArgumentException("a learning-rate factor must be > 0, got " + factor);
        }
        rateScale *= factor;
    }

    /** The product of the factors passed to {@link #scaleLearningRate} (1 when none). */
    public double learningRateScale() {
        return rateScale;
    }

    public long stepsDone() {
        return stepsDone;
    }

    public long stepsPlanned() {
        return planned;
    }

    /** Whether all planned steps are trained. */
    public boolean finished() {
        return stepsDone >= planned;
    }

    /** Mean training loss of the steps so far (NaN before the first). */
    public double meanLoss() {
        return stepsDone == 0 ? Double.NaN : lossSum / stepsDone;
    }

    /** Training images per second so far. */
    public double imagesPerSecond() {
        return nanos == 0 ? 0 : stepsDone * batchSize / (nanos / 1e9);
    }

    /**
     * Evaluates the run so far without ending it: the weight average when the run keeps one and
     * {@code averaged}, else the trained weights.
     */
    public EvaluationReport evaluate(ImageSet set, boolean averaged) {
        return evaluate(set, averaged, 0);
    }

    /**
     * As {@link #evaluate(ImageSet, boolean)}, with the batch norms' statistics first recomputed for the evaluated
     * weights on {@code recalibrationImages} random training images ({@link BatchNormStatistics}; 0: as trained).
     */
    public EvaluationReport evaluate(ImageSet set, boolean averaged, int recalibrationImages) {
        if (handedOver) {
            throw new IllegalStateException("the run is finished");
        }
        if ((!averaged || average == null) && recalibrationImages == 0) {
            return Evaluator.evaluate(net, set, base.normalization(), layout, 256);
        }
        try (INDArray trained = net.params().dup()) {
            if (averaged && average != null) {
                net.setParams(average);
            }
            try {
                if (recalibrationImages > 0) {
                    Random r = new Random(settings.seed() + stepsDone);
                    int[] pick = ImageSet.permutation(train.size(), r);
                    BatchNormStatistics.recompute(net, train, Arrays.copyOf(pick, Math.min(recalibrationImages,
                            train.size())), base.normalization(), layout, 128, settings.augment() ? r : null);
                }
                return Evaluator.evaluate(net, set, base.normalization(), layout, 256);
            } finally {
                net.setParams(trained);
            }
        }
    }

    /**
     * Ends the run: evaluates the trained copy on {@code holdout} (if given) and hands it to the returned
     * candidate. A run that was interrupted after some steps still yields a candidate (its training record
     * says how many steps it trained); one that trained none does not.
     *
     * @param lineage extra entries for the manifest's {@code training} record (e.g. the Kafka offsets trained on)
     * @throws IllegalStateException if no step was trained
     */
    public Candidate finish(ImageSet holdout, Map<String, Object> lineage) {
        if (stepsDone == 0) {
            throw new IllegalStateException("the fine-tune trained no step; there is no candidate");
        }
        if (handedOver) {
            throw new IllegalStateException("the run is finished");
        }
        closeReplicas(); // before the network is handed over: it keeps no listener of this run
        if (average != null) {
            net.setParams(average); // the candidate is the average of the run's weights
        }
        Candidate c = candidate(base, net, holdout, lineage);
        handedOver = true;
        return c;
    }

    /**
     * A candidate from the run so far, which goes on ({@link #continueOn}): a copy of the weights' average (or of
     * the weights, without one), evaluated on {@code holdout} (if given), as a fine-tune of {@code parent} (the
     * version serving now, which the run may have started before).
     *
     * @throws IllegalStateException if no step was trained, or the run is finished
     */
    public Candidate snapshot(Manifest parent, ImageSet holdout, Map<String, Object> lineage) {
        if (stepsDone == 0) {
            throw new IllegalStateException("the fine-tune trained no step; there is no candidate");
        }
        if (handedOver) {
            throw new IllegalStateException("the run is finished");
        }
        ComputationGraph copy = Graphs.copy(net);
        try {
            if (average != null) {
                copy.setParams(average);
            }
            return candidate(parent, copy, holdout, lineage);
        } catch (RuntimeException | Error e) {
            Graphs.free(copy);
            throw e;
        }
    }

    private Candidate candidate(Manifest parent, ComputationGraph weights, ImageSet holdout, Map<String, Object> lineage) {
        EvaluationReport eval = holdout == null || holdout.size() == 0 ? null
                : Evaluator.evaluate(weights, holdout, base.normalization(), layout, 256);
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("mode", "fine-tune");
        training.put("base_version", parent.version());
        training.put("base_sha256", parent.sha256());
        if (parent.version() != base.version()) {
            training.put("run_started_from_version", base.version());
        }
        training.put("data", train.description());
        training.put("images", train.size());
        training.put("steps", stepsDone);
        training.put("steps_planned", planned);
        training.put("batch_size", batchSize);
        if (settings.replicas() > 1) {
            training.put("replicas", settings.replicas());
        }
        training.put("learning_rate", settings.learningRate());
        training.put("warmup_fraction", settings.warmupFraction());
        training.put("schedule", settings.schedule().name().toLowerCase(java.util.Locale.ROOT));
        if (average != null) {
            training.put("weight_average_decay", settings.averageDecay());
        }
        if (settings.distilling()) {
            training.put("distillation", settings.distillation());
        }
        training.put("augment", settings.augment());
        if (settings.cutout() > 0) {
            training.put("cutout", settings.cutout());
        }
        if (settings.labelSmoothing() > 0) {
            training.put("label_smoothing", settings.labelSmoothing());
        }
        if (rateScale != 1) {
            training.put("learning_rate_scale", rateScale);
        }
        training.put("seed", settings.seed());
        training.put("mean_loss", meanLoss());
        training.put("elapsed_s", nanos / 1e9);
        training.put("holdout", holdout == null ? 0 : holdout.size());
        training.putAll(lineage == null ? Map.of() : lineage);
        return new Candidate(parent, weights, stepsDone, eval, training);
    }

    /** Frees the trained copy unless it was handed to a candidate. */
    @Override
    public void close() {
        closeReplicas();
        if (average != null) {
            average.close();
            average = null;
        }
        if (teacher != null) {
            Graphs.free(teacher);
            teacher = null;
        }
        if (!handedOver) {
            handedOver = true;
            Graphs.free(net);
        }
    }

    private void closeReplicas() {
        if (parallel != null) {
            parallel.close();
            parallel = null;
        }
    }

    /** Steps whose batch the replicas shared (0 with one replica). */
    long sharedSteps() {
        return parallel == null ? 0 : parallel.sharedSteps();
    }

    /**
     * A fine-tuned network, not yet versioned. It owns the network: {@link #close()} frees it (after it was
     * written, or when it is refused).
     *
     * @param base     the checkpoint it was fine-tuned from
     * @param network  the trained network (the base's layout, with updater state)
     * @param steps    steps trained
     * @param holdout  evaluation on the caller's holdout, or null
     * @param training the manifest's {@code training} record
     */
    public record Candidate(Manifest base, ComputationGraph network, long steps, EvaluationReport holdout,
                            Map<String, Object> training) implements AutoCloseable {

        /** The candidate's manifest as version {@code version}; its lineage names the base (version and SHA-256). */
        public Manifest manifest(long version) {
            if (version <= base.version()) {
                throw new IllegalArgumentException("a fine-tuned version must be above its base " + base.displayName()
                        + ", got " + version);
            }
            Map<String, Double> metrics = new LinkedHashMap<>();
            if (holdout != null) {
                metrics.put("holdout_accuracy", holdout.accuracy());
                metrics.put("holdout_top5", holdout.top5());
                metrics.put("holdout_loss", holdout.loss());
                metrics.put("holdout_images", (double) holdout.images());
            }
            return base.toBuilder().version(version).parent(base.version(), base.sha256()).training(training)
                    .metrics(metrics).created(java.time.Instant.now().toString()).modelFile(null, 0, null).build();
        }

        @Override
        public void close() {
            Graphs.free(network);
        }
    }
}
