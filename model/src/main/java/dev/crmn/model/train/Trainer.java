package dev.crmn.model.train;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.data.Batches;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.Normalization;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Instant;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Trains a CRMN on an {@link ImageSet} with Nesterov-momentum SGD, weight decay, augmentation and a cosine
 * learning-rate schedule (see {@link TrainingSettings}), evaluating on a held-out part after every epoch.
 * A run either starts from scratch or resumes a checkpoint (weights and updater state), continuing its
 * schedule and lineage (the result's version is the parent's + 1).
 */
public final class Trainer {

    private static final Logger LOG = LoggerFactory.getLogger(Trainer.class);
    private static final int ACCURACY_SAMPLE_EVERY = 10;
    private static final int LR_UPDATE_EVERY = 10;

    private final TrainingSettings settings;
    private final TrainingListener listener;
    private final Path logDir;

    /**
     * @param logDir where metrics.json and curves.png are rewritten after each epoch (null = nowhere)
     */
    public Trainer(TrainingSettings settings, TrainingListener listener, Path logDir) {
        this.settings = settings;
        this.listener = listener == null ? TrainingListener.NONE : listener;
        this.logDir = logDir;
    }

    /**
     * Outcome of a run.
     *
     * @param manifest  manifest for the trained network (size and hash are filled in when it is written)
     * @param network   the trained network (training layout, batch norm unfolded, updater state)
     * @param history   one record per epoch, including those of resumed runs
     * @param heldOut   final evaluation on the held-out images (null when holdout = 0)
     */
    public record Result(Manifest manifest, ComputationGraph network, List<EpochRecord> history,
                         EvaluationReport heldOut) {

        /** metrics.json content: settings and per-epoch history. */
        public byte[] metricsJson() {
            try {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("model", manifest.name());
                doc.put("version", manifest.version());
                doc.put("architecture", manifest.architecture());
                doc.put("training", manifest.training());
                doc.put("metrics", manifest.metrics());
                doc.put("epochs", history);
                return Checkpoints.json().writeValueAsBytes(doc);
            } catch (IOException e) {
                throw new IllegalStateException(e);
            }
        }

        public byte[] curvesPng() {
            return TrainingPlot.png(manifest.displayName() + " (" + manifest.architecture().shortName() + ")", history);
        }
    }

    /** Trains a new network of architecture {@code cfg}. */
    public Result train(CrmnConfig cfg, String name, String preset, ImageSet data) throws IOException {
        ImageSet[] split = split(data, settings.holdout(), settings.seed());
        Normalization norm = Normalization.compute(split[0]); // the training part only: held-out images stay unseen
        ComputationGraph net = CrmnGraphBuilder.network(cfg, GraphOptions.training().withLayout(settings.layout())
                .withOptimizer(settings.learningRate(), settings.momentum(), settings.weightDecay())
                .withSeed(settings.seed()));
        return run(net, cfg, name, preset, 1, null, norm, data, split, settings.holdout(), settings.seed(),
                new ArrayList<>(), 0, 0);
    }

    /**
     * Continues an interrupted or shorter run from a loaded checkpoint (which must have been loaded with its
     * updater): weights, updater state, schedule position and history carry on, the run's budget is this
     * trainer's {@code epochs}/{@code maxMinutes} counted from the run's first step, and the held-out split
     * is the checkpoint's own (its recorded holdout size and seed, so no training image is evaluated as
     * held out). The result's version is the parent's + 1.
     *
     * @throws IllegalArgumentException if the data, layout or classes do not fit the checkpoint, or if the
     *                                  budget is already used up (nothing would be trained: fine-tune instead)
     */
    public Result resume(Checkpoints.Loaded from, ImageSet data) throws IOException {
        Manifest m = from.manifest();
        if (!m.labels().equals(data.classNames())) {
            throw new IllegalArgumentException("training data classes " + data.classNames() + " differ from the checkpoint's "
                    + m.labels());
        }
        if (!m.input().layout().equals(settings.layout().name())) {
            throw new IllegalArgumentException("checkpoint layout " + m.input().layout() + " differs from the run's "
                    + settings.layout());
        }
        RunRecord parent = RunRecord.of(m);
        if (parent.holdout() >= data.size()) {
            throw new IllegalArgumentException("the checkpoint held out " + parent.holdout() + " images, the data has only "
                    + data.size());
        }
        ImageSet[] split = split(data, parent.holdout(), parent.seed());
        int bs = Math.min(settings.batchSize(), split[0].size());
        long planned = (long) settings.epochs() * (split[0].size() / bs);
        double maxSeconds = settings.maxMinutes() > 0 ? settings.maxMinutes() * 60 : Double.POSITIVE_INFINITY;
        if (progress(parent.iterations(), planned, parent.elapsedSeconds(), maxSeconds) >= 1) {
            throw new IllegalArgumentException(m.displayName() + " has already trained " + parent.iterations()
                    + " iterations (" + parent.epochs() + " epochs, " + Math.round(parent.elapsedSeconds() / 60) + " min) of a "
                    + settings.epochs() + "-epoch" + (settings.maxMinutes() > 0 ? " / " + settings.maxMinutes() + "-minute" : "")
                    + " budget: nothing to resume. Give a larger budget, or fine-tune it (--more-epochs / --steps)");
        }
        return run(from.network(), m.architecture(), m.name(), m.preset(), m.version() + 1, m, m.normalization(), data,
                split, parent.holdout(), parent.seed(), new ArrayList<>(parent.history()), parent.iterations(),
                parent.elapsedSeconds());
    }

    private static ImageSet[] split(ImageSet data, int holdout, long seed) {
        if (holdout == 0) {
            return new ImageSet[]{data, null};
        }
        return data.split(holdout, seed);
    }

    private Result run(ComputationGraph net, CrmnConfig cfg, String name, String preset, long version, Manifest parent,
                       Normalization norm, ImageSet all, ImageSet[] split, int holdout, long seed,
                       List<EpochRecord> history, long startIteration, double startElapsed) throws IOException {
        if (settings.fastPath()) {
            TrainingFastPath.apply(net);
        }
        ImageSet train = split[0];
        ImageSet val = split[1];
        int bs = Math.min(settings.batchSize(), train.size());
        int batchesPerEpoch = train.size() / bs; // drop the last partial batch
        long plannedIterations = (long) settings.epochs() * batchesPerEpoch;
        double maxSeconds = settings.maxMinutes() > 0 ? settings.maxMinutes() * 60 : Double.POSITIVE_INFINITY;
        Random augment = new Random(seed * 31 + startIteration);
        long iteration = startIteration;
        double elapsedBefore = startElapsed;
        long runStart = System.nanoTime();
        int epoch = history.isEmpty() ? 0 : history.get(history.size() - 1).epoch();
        double lr = Double.NaN;
        boolean done = progress(iteration, plannedIterations, elapsedBefore, maxSeconds) >= 1;
        int firstEpoch = epoch;
        while (!done) {
            epoch++;
            int[] order = ImageSet.permutation(train.size(), new Random(seed + epoch));
            double lossSum = 0;
            int lossCount = 0, sampled = 0, sampledCorrect = 0;
            long epochStart = System.nanoTime();
            int images = 0;
            for (int b = 0; b < batchesPerEpoch; b++) {
                double elapsed = elapsedBefore + (System.nanoTime() - runStart) / 1e9;
                double p = progress(iteration, plannedIterations, elapsed, maxSeconds);
                if (p >= 1) {
                    done = true;
                    break;
                }
                if (iteration % LR_UPDATE_EVERY == 0 || Double.isNaN(lr)) {
                    lr = settings.learningRateAt(p);
                    net.setLearningRate(lr);
                }
                int[] idx = java.util.Arrays.copyOfRange(order, b * bs, (b + 1) * bs);
                if (b % ACCURACY_SAMPLE_EVERY == 0) {
                    sampled += idx.length;
                    sampledCorrect += TrainingStep.correct(net, train, idx, norm, settings.layout());
                }
                double score = TrainingStep.fit(net, train, idx, norm, settings.layout(), settings.augment() ? augment : null);
                iteration++;
                images += idx.length;
                lossSum += score;
                lossCount++;
                double ips = images / ((System.nanoTime() - epochStart) / 1e9);
                listener.onBatch(epoch, iteration, progress(iteration, plannedIterations,
                                elapsedBefore + (System.nanoTime() - runStart) / 1e9, maxSeconds),
                        lossSum / lossCount, sampled == 0 ? Double.NaN : (double) sampledCorrect / sampled, ips, lr);
            }
            if (lossCount == 0) {
                epoch--;
                break;
            }
            double epochSeconds = (System.nanoTime() - epochStart) / 1e9;
            EvaluationReport v = val == null ? null : Evaluator.evaluate(net, val, norm, settings.layout(), 256);
            EpochRecord rec = new EpochRecord(epoch, iteration, lossSum / lossCount,
                    sampled == 0 ? Double.NaN : (double) sampledCorrect / sampled,
                    v == null ? Double.NaN : v.loss(), v == null ? Double.NaN : v.accuracy(), lr, images / epochSeconds,
                    elapsedBefore + (System.nanoTime() - runStart) / 1e9);
            history.add(rec);
            listener.onEpoch(rec);
            LOG.info("epoch {} done: {}", epoch, rec);
            writeLog(result(net, cfg, name, preset, version, parent, norm, all, holdout, seed, history, v, iteration,
                    rec.elapsedSeconds()));
            if (settings.stopAfterEpochs() > 0 && epoch - firstEpoch >= settings.stopAfterEpochs()) {
                LOG.info("stopping after {} epochs of this run, at {} % of its schedule", settings.stopAfterEpochs(),
                        Math.round(100 * progress(iteration, plannedIterations, rec.elapsedSeconds(), maxSeconds)));
                break;
            }
        }
        if (iteration == startIteration) {
            throw new IllegalStateException("the run trained no step (budget used up before the first step); no checkpoint");
        }
        double elapsed = elapsedBefore + (System.nanoTime() - runStart) / 1e9;
        EvaluationReport finalVal = val == null ? null : Evaluator.evaluate(net, val, norm, settings.layout(), 256);
        Result r = result(net, cfg, name, preset, version, parent, norm, all, holdout, seed, history, finalVal, iteration,
                elapsed);
        writeLog(r);
        return r;
    }

    static double progress(long iteration, long planned, double elapsed, double maxSeconds) {
        return Math.max((double) iteration / planned, elapsed / maxSeconds);
    }

    private Result result(ComputationGraph net, CrmnConfig cfg, String name, String preset, long version, Manifest parent,
                          Normalization norm, ImageSet data, int holdout, long seed, List<EpochRecord> history,
                          EvaluationReport val, long iterations, double elapsed) {
        Map<String, Object> training = new LinkedHashMap<>();
        training.put("mode", parent == null ? "train" : "resume");
        training.put("data", data.description());
        training.put("images", data.size());
        training.put("holdout", holdout);
        training.put("split_seed", seed);
        training.put("epochs_completed", history.isEmpty() ? 0 : history.get(history.size() - 1).epoch());
        training.put("iterations", iterations);
        training.put("elapsed_s", elapsed);
        training.put("settings", Map.of("epochs", settings.epochs(), "max_minutes", settings.maxMinutes(),
                "batch_size", settings.batchSize(), "learning_rate", settings.learningRate(),
                "momentum", settings.momentum(), "weight_decay", settings.weightDecay(),
                "warmup_fraction", settings.warmupFraction(), "augment", settings.augment(), "seed", seed,
                "optimizer", "sgd-nesterov, cosine schedule"));
        training.put("history", history);
        Map<String, Double> metrics = new LinkedHashMap<>();
        if (val != null) {
            metrics.put("val_accuracy", val.accuracy());
            metrics.put("val_top5", val.top5());
            metrics.put("val_loss", val.loss());
        }
        Manifest m = Manifest.builder().name(name).version(version)
                .parent(parent == null ? null : parent.version(), parent == null ? null : parent.sha256())
                .preset(preset).architecture(cfg)
                .input(new Manifest.InputSpec(cfg.height(), cfg.width(), cfg.channels(), settings.layout().name()))
                .normalization(norm).labels(data.classNames()).training(training).metrics(metrics).build();
        return new Result(m, net, List.copyOf(history), val);
    }

    private void writeLog(Result r) throws IOException {
        if (logDir == null) {
            return;
        }
        Files.createDirectories(logDir);
        Files.write(logDir.resolve("metrics.json"), r.metricsJson());
        Files.write(logDir.resolve("curves.png"), r.curvesPng());
    }
}
