package dev.crmn.model.cli;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.data.Cifar10Dir;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code crmn bench-finetune}: a fine-tuning schedule measured offline, through the same {@link FineTuning} API the
 * fine-tuning job's rounds use, on a time budget: the test accuracy (clean and, with {@code --corrupt}, corrupted)
 * of the trained weights and of their moving average every {@code --eval-every} minutes of training. The schedule
 * ablation and the drift table in docs/results.md come from it; evaluation time is not counted as training time.
 */
@Command(name = "bench-finetune", mixinStandardHelpOptions = true,
        description = "Measure a fine-tuning schedule offline on a time budget: test accuracy vs minutes of training.")
public final class FineTuneBenchCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Checkpoint to fine-tune (directory or manifest).")
    Path model;

    @Option(names = "--data", split = ",", description = "Training data (default: data_batch_3.bin,data_batch_4.bin"
            + " of the located CIFAR-10).")
    List<Path> data;

    @Option(names = "--anchor", split = ",", description = "Clean anchor data (e.g. the model's own training files),"
            + " mixed into the training data uncorrupted (default: none).")
    List<Path> anchor;

    @Option(names = "--anchor-images", defaultValue = "0", description = "Anchor images mixed in (default: ${DEFAULT-VALUE}).")
    int anchorImages;

    @Option(names = "--test", defaultValue = "test_batch.bin", description = "Test data (default: ${DEFAULT-VALUE}).")
    Path test;

    @Option(names = "--test-images", defaultValue = "0", description = "Test images used, 0 = all (default: ${DEFAULT-VALUE}).")
    int testImages;

    @Option(names = "--minutes", defaultValue = "10", description = "Training time budget (default: ${DEFAULT-VALUE}).")
    double minutes;

    @Option(names = "--eval-every", defaultValue = "2.5", description = "Minutes of training between evaluations"
            + " (default: ${DEFAULT-VALUE}).")
    double evalEvery;

    @Option(names = "--steps", defaultValue = "0", description = "Planned steps (the cosine's length); 0 = an estimate of"
            + " what fits in --minutes at --images-per-second (default: ${DEFAULT-VALUE}).")
    long steps;

    @Option(names = "--images-per-second", defaultValue = "250", description = "Training speed assumed by --steps 0"
            + " (default: ${DEFAULT-VALUE}).")
    double imagesPerSecond;

    @Option(names = "--lr", defaultValue = "0.01", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--schedule", defaultValue = "cosine", description = "cosine or constant (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--warmup", defaultValue = "0.05", description = "Warm-up fraction (default: ${DEFAULT-VALUE}).")
    double warmup;

    @Option(names = "--average-decay", defaultValue = "0", description = "Weight moving-average decay per step,"
            + " 0 = none (default: ${DEFAULT-VALUE}).")
    double averageDecay;

    @Option(names = "--distillation", defaultValue = "0", description = "Weight of the base model's own predictions"
            + " in the training targets (knowledge distillation; 0 = the labels alone, default: ${DEFAULT-VALUE}).")
    double distillation;

    @Option(names = "--round-steps", defaultValue = "0", description = "As the fine-tuning job's learner: rounds of this"
            + " many steps, each on a fresh sample of --round-images of the data, a candidate copied out after each"
            + " (constant schedule only; 0 = one run over all the data, default).")
    int roundSteps;

    @Option(names = "--round-images", defaultValue = "9600", description = "Images of a round with --round-steps"
            + " (default: ${DEFAULT-VALUE}).")
    int roundImages;

    @Option(names = "--batch-size", defaultValue = "64", description = "Mini-batch (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--train-seed", defaultValue = "42", description = "Seed of the shuffles and augmentation"
            + " (default: ${DEFAULT-VALUE}).")
    long trainSeed;

    @Mixin
    CorruptionOptions corruption;

    @Option(names = "--recalibrate-images", defaultValue = "0", description = "Also evaluate each point with the batch"
            + " norms' statistics recomputed on this many training images (0 = not; default: ${DEFAULT-VALUE}).")
    int recalibrateImages;

    @Option(names = "--cutout", defaultValue = "0", description = "Cutout square in pixels (0 = none; default: ${DEFAULT-VALUE}).")
    int cutout;

    @Option(names = "--label-smoothing", defaultValue = "0", description = "Label smoothing of the targets (0 = none;"
            + " default: ${DEFAULT-VALUE}).")
    double labelSmoothing;

    @Option(names = "--lr-drop-at", split = ",", description = "Minutes of training after which the learning rate is"
            + " multiplied by --lr-drop-factor (a learner annealing when it stops improving).")
    List<Double> lrDropAt;

    @Option(names = "--lr-drop-factor", defaultValue = "0.5", description = "See --lr-drop-at (default: ${DEFAULT-VALUE}).")
    double lrDropFactor;

    @Option(names = "--replicas", defaultValue = "1", description = "Networks sharing each step's batch, each on a thread"
            + " of its own with OMP_NUM_THREADS OpenMP threads (default: ${DEFAULT-VALUE}).")
    int replicas;

    @Option(names = "--json", description = "Print one JSON document.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (lrDropAt != null && !(lrDropFactor > 0)) {
            throw new IllegalArgumentException("--lr-drop-factor must be > 0, got " + lrDropFactor);
        }
        Checkpoints.Loaded base = Checkpoints.load(model, true);
        ImageSet stream = ImageSet.load(Cifar10Dir.files(data, List.of("data_batch_3.bin", "data_batch_4.bin"),
                FineTuneBenchCommand::note), 0).matchClasses(base.manifest().labels(), FineTuneBenchCommand::note);
        stream = corruption.apply(stream);
        ImageSet train = stream;
        if (anchorImages > 0) {
            if (anchor == null || anchor.isEmpty()) {
                throw new IllegalArgumentException("--anchor-images needs --anchor files");
            }
            ImageSet a = ImageSet.load(Cifar10Dir.files(anchor, List.of(), FineTuneBenchCommand::note), 0)
                    .matchClasses(base.manifest().labels(), FineTuneBenchCommand::note);
            int[] pick = ImageSet.permutation(a.size(), new Random(trainSeed));
            List<LabelledImage> all = new ArrayList<>(stream.size() + anchorImages);
            for (int i = 0; i < stream.size(); i++) {
                all.add(new LabelledImage(stream.image(i), stream.label(i)));
            }
            for (int i = 0; i < Math.min(anchorImages, a.size()); i++) {
                all.add(new LabelledImage(a.image(pick[i]), a.label(pick[i])));
            }
            train = ImageSet.of(all, stream.classNames(), stream.height(), stream.width(), stream.channels(),
                    stream.description() + " + " + Math.min(anchorImages, a.size()) + " clean anchor images");
        }
        ImageSet clean = ImageSet.load(Cifar10Dir.files(List.of(test), List.of(), FineTuneBenchCommand::note), testImages)
                .matchClasses(base.manifest().labels(), FineTuneBenchCommand::note);
        ImageSet corrupted = corruption.corruption() == null ? null : corruption.apply(clean);
        long planned = roundSteps > 0 ? roundSteps
                : steps > 0 ? steps : Math.max(1, Math.round(minutes * 60 * imagesPerSecond / batchSize));
        FineTuneSettings s = FineTuneSettings.builder().steps(planned).batchSize(batchSize).learningRate(lr)
                .warmupFraction(warmup).schedule(FineTuneSettings.Schedule.valueOf(schedule.toUpperCase(java.util.Locale.ROOT)))
                .averageDecay(averageDecay).distillation(distillation).seed(trainSeed).cutout(cutout)
                .labelSmoothing(labelSmoothing).replicas(replicas).build();
        List<Map<String, Object>> points = new ArrayList<>();
        System.err.printf("bench-finetune: %s on %s (%d images), %d planned steps, %s%n", base.manifest().displayName(),
                train.description(), train.size(), planned, s);
        Random rounds = new Random(trainSeed + 1);
        try (FineTuning ft = FineTuning.start(base.manifest(), base.network(), roundSteps > 0
                ? sample(train, roundImages, rounds) : train, s)) {
            points.add(point(ft, 0, 0, clean, corrupted));
            double trainedSeconds = 0;
            double nextEval = evalEvery * 60;
            int drops = 0;
            while (!ft.finished() && trainedSeconds < minutes * 60) {
                long t0 = System.nanoTime();
                ft.run(10, () -> false);
                if (roundSteps > 0 && ft.finished()) { // as the job: a candidate, then the next round's data
                    ft.snapshot(base.manifest(), null, Map.of()).close();
                    ft.continueOn(sample(train, roundImages, rounds), roundSteps);
                }
                trainedSeconds += (System.nanoTime() - t0) / 1e9;
                while (lrDropAt != null && drops < lrDropAt.size() && trainedSeconds >= lrDropAt.get(drops) * 60) {
                    ft.scaleLearningRate(lrDropFactor);
                    drops++;
                    System.err.printf("bench-finetune: learning rate x%.3f after %.1f minutes%n", ft.learningRateScale(),
                            trainedSeconds / 60);
                }
                if (trainedSeconds >= nextEval || ft.finished() || trainedSeconds >= minutes * 60) {
                    points.add(point(ft, trainedSeconds, ft.stepsDone(), clean, corrupted));
                    nextEval += evalEvery * 60;
                }
            }
        }
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("model", base.manifest().displayName());
        doc.put("train", train.description());
        doc.put("train_images", train.size());
        doc.put("settings", s);
        doc.put("lr_drop_at_minutes", lrDropAt);
        doc.put("lr_drop_factor", lrDropAt == null ? null : lrDropFactor);
        doc.put("corruption", corruption.corruption() == null ? null : corruption.corruption().toString());
        doc.put("points", points);
        if (json) {
            CliSupport.printJson(doc);
        }
        return 0;
    }

    private static ImageSet sample(ImageSet set, int n, Random rng) {
        int[] p = ImageSet.permutation(set.size(), rng);
        return set.subset(java.util.Arrays.copyOf(p, Math.min(n, set.size())), set.description() + " (a round's sample)");
    }

    private static void note(String message) {
        System.err.println("bench-finetune: " + message);
    }

    private Map<String, Object> point(FineTuning ft, double seconds, long stepsDone, ImageSet clean, ImageSet corrupted) {
        Map<String, Object> p = new LinkedHashMap<>();
        p.put("minutes", Math.round(seconds / 6.0) / 10.0);
        p.put("steps", stepsDone);
        p.put("images", stepsDone * batchSize);
        p.put("clean", ft.evaluate(clean, false).accuracy());
        if (averageDecay > 0) {
            p.put("clean_average", ft.evaluate(clean, true).accuracy());
        }
        if (recalibrateImages > 0) {
            p.put("clean_recalibrated", ft.evaluate(clean, false, recalibrateImages).accuracy());
            if (averageDecay > 0) {
                p.put("clean_average_recalibrated", ft.evaluate(clean, true, recalibrateImages).accuracy());
            }
        }
        if (corrupted != null) {
            p.put("corrupted", ft.evaluate(corrupted, false).accuracy());
            if (averageDecay > 0) {
                p.put("corrupted_average", ft.evaluate(corrupted, true).accuracy());
            }
        }
        System.err.println("bench-finetune: " + p);
        return p;
    }
}
