package dev.crmn.model.cli;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.perf.CpuFastPath;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import dev.crmn.model.train.RunRecord;
import dev.crmn.model.train.Trainer;
import dev.crmn.model.train.TrainingSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crmn train}: train a CRMN from scratch, continue a run ({@code --resume}), or fine-tune a checkpoint
 * ({@code --resume} with {@code --steps} or {@code --more-epochs}), and write a checkpoint.
 */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = {"Train a CRMN (or plain WRN) on CIFAR binary files or an image folder and write a checkpoint.",
                "Three modes: from scratch (--preset); continue a run to a larger budget (--resume CK [--epochs N]);"
                        + " fine-tune a checkpoint for exactly so many more steps (--resume CK --steps N | --more-epochs E)."})
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--preset", defaultValue = "crmn-demo", description = "Architecture preset (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--data", split = ",",
            description = "Training data: CIFAR-10/100 .bin files or image folders (comma-separated or repeated); a bare file"
                    + " name (data_batch_3.bin) is taken from the CIFAR-10 copy the tools find (./crmn data where)"
                    + " (default: data_batch_1.bin,data_batch_2.bin, the shipped model's data).")
    List<Path> data;

    @Option(names = "--out", required = true, description = "Checkpoint directory to create (must not exist).")
    Path out;

    @Option(names = "--name", description = "Model name (default: the preset name).")
    String name;

    @Option(names = "--resume", description = "Start from this checkpoint (weights, updater state): continue its run, "
            + "or fine-tune it with --steps / --more-epochs.")
    Path resume;

    @Option(names = "--epochs", description = "Epoch budget of the run (default: 30; with --resume, the run's own budget;"
            + " counted from the run's first step).")
    Integer epochs;

    @Option(names = "--steps", description = "Fine-tune --resume for exactly this many more steps.")
    Long steps;

    @Option(names = "--more-epochs", description = "Fine-tune --resume for this many more epochs of the data.")
    Double moreEpochs;

    @Option(names = "--stop-after-epochs", defaultValue = "0", description = "Stop after this many epochs, before the"
            + " schedule's end: a snapshot of the run at its current learning rate, which --resume continues (default: 0,"
            + " run to the end).")
    int stopAfterEpochs;

    @Option(names = "--max-minutes", description = "Time budget in minutes; 0 = none (default; with --resume, the run's own).")
    Double maxMinutes;

    @Option(names = "--batch-size", description = "Mini-batch size (default: 128; fine-tuning 64).")
    Integer batchSize;

    @Option(names = "--lr", description = "Peak learning rate (default: 0.1; fine-tuning 0.02).")
    Double lr;

    @Option(names = "--momentum", defaultValue = "0.9", description = "Nesterov momentum (default: ${DEFAULT-VALUE}).")
    double momentum;

    @Option(names = "--weight-decay", defaultValue = "5e-4", description = "Weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--holdout", defaultValue = "2000",
            description = "Training images held out for per-epoch evaluation (default: ${DEFAULT-VALUE}; with --resume the"
                    + " checkpoint's own split is used).")
    int holdout;

    @Option(names = "--limit", defaultValue = "0", description = "Use at most this many images (0 = all).")
    int limit;

    @Option(names = "--no-augment", description = "Disable random crop and flip.")
    boolean noAugment;

    @Option(names = "--seed", defaultValue = "42", description = "Random seed (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--log-dir", description = "Where metrics.json and curves.png are updated each epoch (default: runs/<name>-<time>).")
    Path logDir;

    @Option(names = "--json", description = "Print one JSON document with the result.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (Files.exists(out)) {
            throw new IllegalArgumentException(out + " exists; checkpoints are immutable, choose a new --out");
        }
        boolean fineTune = steps != null || moreEpochs != null;
        if (fineTune && resume == null) {
            throw new IllegalArgumentException("--steps / --more-epochs fine-tune a checkpoint: give it with --resume");
        }
        if (fineTune && stopAfterEpochs > 0) {
            throw new IllegalArgumentException("--stop-after-epochs stops a run before its schedule ends; a fine-tune runs"
                    + " exactly --steps / --more-epochs");
        }
        if (steps != null && moreEpochs != null) {
            throw new IllegalArgumentException("give --steps or --more-epochs, not both");
        }
        if (fineTune && epochs != null) {
            throw new IllegalArgumentException("--epochs is a run's total budget; a fine-tune takes --steps or --more-epochs");
        }
        // validate what does not need the data before loading it
        Checkpoints.Loaded from = resume == null ? null : Checkpoints.load(resume, true);
        CrmnConfig preset = resume == null ? Presets.get(this.preset) : null;
        try {
            ImageSet set = ImageSet.load(dev.crmn.model.data.Cifar10Dir.files(data, List.of("data_batch_1.bin",
                    "data_batch_2.bin"), note -> System.err.println("train: " + note)), limit);
            if (from != null) {
                set = set.matchClasses(from.manifest().labels(), note -> System.err.println("train: " + note));
            }
            return fineTune ? fineTune(from, set) : train(from, preset, set);
        } finally {
            if (from != null) {
                Graphs.free(from.network());
            }
        }
    }

    private int train(Checkpoints.Loaded from, CrmnConfig preset, ImageSet set) throws Exception {
        TrainingSettings.Builder b = TrainingSettings.builder().maxMinutes(maxMinutes == null ? 0 : maxMinutes)
                .batchSize(batchSize == null ? 128 : batchSize).learningRate(lr == null ? 0.1 : lr).momentum(momentum)
                .weightDecay(weightDecay).holdout(holdout).augment(!noAugment).seed(seed)
                .layout(CpuFastPath.disabledByUser() ? CNN2DFormat.NCHW : CNN2DFormat.NHWC).stopAfterEpochs(stopAfterEpochs);
        if (from != null) {
            // a continued run keeps its own settings unless one is given again
            RunRecord run = RunRecord.of(from.manifest());
            Map<?, ?> recorded = from.manifest().training().get("settings") instanceof Map<?, ?> s ? s : Map.of();
            b.epochs(epochs != null ? epochs : number(recorded.get("epochs"), 30).intValue());
            b.batchSize(batchSize != null ? batchSize : number(recorded.get("batch_size"), 128).intValue());
            b.learningRate(lr != null ? lr : number(recorded.get("learning_rate"), 0.1).doubleValue());
            b.maxMinutes(maxMinutes != null ? maxMinutes : number(recorded.get("max_minutes"), 0).doubleValue());
            b.warmupFraction(number(recorded.get("warmup_fraction"), 0.02).doubleValue());
            b.layout(CNN2DFormat.valueOf(from.manifest().input().layout()));
            System.err.printf("train: continuing the run of %s (%d iterations, %d epochs so far) to a budget of %d epochs;"
                            + " held-out split from the checkpoint (%d images, seed %d)%n", from.manifest().displayName(),
                    run.iterations(), run.epochs(), b.build().epochs(), run.holdout(), run.seed());
        } else {
            b.epochs(epochs == null ? 30 : epochs);
        }
        TrainingSettings settings = b.build();
        String runName = from != null ? from.manifest().name() : name != null ? name : this.preset;
        Path logs = logDir != null ? logDir : Path.of("runs", runName + "-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        System.err.printf("train: %d images (%s), %d classes; %s; logs in %s%n", set.size(), set.description(),
                set.classNames().size(), CpuFastPath.status(), logs);
        Trainer trainer = new Trainer(settings, new ProgressBar(), logs);
        Trainer.Result r = from != null ? trainer.resume(from, set)
                : trainer.train(preset.toBuilder().classes(set.classNames().size()).input(set.height(), set.width(),
                set.channels()).build(), runName, this.preset, set);
        Manifest written = Checkpoints.write(out, r.network(), r.manifest(),
                Map.of("training-metrics.json", r.metricsJson(), "training-curves.png", r.curvesPng()));
        report(written, r.heldOut(), Map.of("epochs", r.history().size(),
                "iterations", written.training().get("iterations")));
        return 0;
    }

    private static Number number(Object v, Number fallback) {
        return v instanceof Number n ? n : fallback;
    }

    private int fineTune(Checkpoints.Loaded from, ImageSet set) throws Exception {
        RunRecord run = RunRecord.of(from.manifest());
        if (run.holdout() >= set.size()) {
            throw new IllegalArgumentException("the checkpoint held out " + run.holdout() + " images, the data has "
                    + set.size());
        }
        ImageSet[] split = run.holdout() == 0 ? new ImageSet[]{set, null} : set.split(run.holdout(), run.seed());
        int bs = batchSize == null ? 64 : batchSize;
        long n = steps != null ? steps : FineTuning.stepsForEpochs(moreEpochs, split[0].size(), bs);
        FineTuneSettings settings = FineTuneSettings.builder().steps(n).batchSize(bs).learningRate(lr == null ? 0.02 : lr)
                .augment(!noAugment).seed(seed).build();
        System.err.printf("train: fine-tuning %s for %d steps of %d images (peak lr %s) on %d images; held-out split"
                        + " from the checkpoint (%d images, seed %d)%n", from.manifest().displayName(), n, bs,
                settings.learningRate(), split[0].size(), run.holdout(), run.seed());
        Progress progress = new Progress();
        try (FineTuning ft = FineTuning.start(from.manifest(), from.network(), split[0], settings)) {
            while (!ft.finished()) {
                ft.run(10, () -> false);
                progress.update(String.format("fine-tune %s %5.1f%%  step %d/%d  loss %.4f  %4.0f img/s",
                        ProgressBar.bar((double) ft.stepsDone() / n), 100.0 * ft.stepsDone() / n, ft.stepsDone(), n,
                        ft.meanLoss(), ft.imagesPerSecond()));
            }
            progress.done(String.format("fine-tune %s 100.0%%  step %d/%d  loss %.4f  %4.0f img/s", ProgressBar.bar(1),
                    n, n, ft.meanLoss(), ft.imagesPerSecond()));
            try (FineTuning.Candidate c = ft.finish(split[1], Map.of("holdout", run.holdout(), "split_seed", run.seed()))) {
                Manifest written = Checkpoints.write(out, c.network(), c.manifest(from.manifest().version() + 1));
                report(written, c.holdout(), Map.of("steps", c.steps()));
            }
        }
        return 0;
    }

    private void report(Manifest written, EvaluationReport heldOut, Map<String, Object> extra) {
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("checkpoint", out.toString());
            doc.put("name", written.name());
            doc.put("version", written.version());
            doc.put("parent_version", written.parentVersion());
            doc.put("sha256", written.sha256());
            doc.put("mode", written.training().get("mode"));
            doc.put("metrics", written.metrics());
            doc.putAll(extra);
            CliSupport.printJson(doc);
        } else {
            System.out.printf("wrote %s (%s, %s, sha256 %s)%nheld-out accuracy %s%n", out, written.displayName(),
                    written.training().get("mode"), written.sha256(),
                    heldOut == null ? "n/a" : String.format("%.4f on %d images", heldOut.accuracy(), heldOut.images()));
        }
    }
}
