package dev.crmn.model.cli;

import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.Skipped;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code crmn eval}: accuracy, top-5, per-class accuracy and confusion matrix of a checkpoint. */
@Command(name = "eval", mixinStandardHelpOptions = true,
        description = "Evaluate a checkpoint on CIFAR binary files or an image folder (ROOT/<class>/<image>).")
public final class EvalCommand implements Callable<Integer> {

    @Option(names = "--engine", defaultValue = "cpu", description = "Inference engine: cpu (the ND4J/oneDNN fast path),"
            + " cuda (the CUDA 13 engine on an NVIDIA GPU; builds with -Pcuda13), auto (cuda where it can run, else cpu)"
            + " or onnxruntime (the same network in ONNX Runtime's CPU build) (default: ${DEFAULT-VALUE}).")
    String engine;

    @Option(names = "--model", required = true, description = "Checkpoint directory (or its manifest.json).")
    Path model;

    @Option(names = "--data", split = ",", description = "Evaluation data: CIFAR .bin files or image folders; a bare file name"
            + " (test_batch.bin) is taken from the CIFAR-10 copy the tools find (./crmn data where) (default: test_batch.bin).")
    List<Path> data;

    @Option(names = "--limit", defaultValue = "0", description = "Evaluate at most this many images (0 = all).")
    int limit;

    @Option(names = "--batch-size", defaultValue = "256", description = "Images per forward pass (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--strict", description = "Stop at the first image that does not decode (default: skip it, count it, "
            + "and list the reasons at the end).")
    boolean strict;

    @picocli.CommandLine.Mixin
    CorruptionOptions drift = new CorruptionOptions();

    @Option(names = "--json", description = "Print one JSON document (accuracy, top5, per_class_accuracy, confusion_matrix, skipped).")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ClassifierOptions options = ClassifierOptions.of(engine, 0); // checked before the data is read
        drift.corruption(); // a bad --corrupt is refused before the data is read
        try (Classifier c = Classifier.load(model, options)) {
            Skipped skipped = strict ? null : new Skipped();
            List<Path> files = dev.crmn.model.data.Cifar10Dir.files(data, List.of("test_batch.bin"),
                    note -> System.err.println("eval: " + note));
            ImageSet loaded = ImageSet.load(files, limit, skipped)
                    .matchClasses(c.labels(), note -> System.err.println("eval: " + note));
            ImageSet set = drift.apply(loaded);
            if (set.height() != c.manifest().input().height() || set.width() != c.manifest().input().width()) {
                throw new IllegalArgumentException("the data's images are " + set.height() + "x" + set.width()
                        + ", the model takes " + c.manifest().input().height() + "x" + c.manifest().input().width());
            }
            Progress progress = new Progress();
            long t0 = System.nanoTime();
            EvaluationReport r = Evaluator.evaluate(c::probabilities, set, c.manifest().normalization(), c.layout(),
                    batchSize, done -> progress.update(String.format("eval: %d/%d images", done, set.size())));
            double seconds = (System.nanoTime() - t0) / 1e9;
            progress.done(String.format("eval: %d/%d images", set.size(), set.size()));
            if (skipped != null && !skipped.isEmpty()) {
                System.err.println("eval: " + skipped.summary());
            }
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("model", c.manifest().name());
                doc.put("version", c.manifest().version());
                doc.put("sha256", c.manifest().sha256());
                doc.put("data", set.description());
                doc.put("images", r.images());
                doc.put("accuracy", r.accuracy());
                doc.put("top5", r.top5());
                doc.put("loss", r.loss());
                doc.put("per_class_accuracy", r.perClassByName());
                doc.put("labels", r.labels());
                doc.put("confusion_matrix", r.confusion());
                doc.put("seconds", seconds);
                doc.put("skipped", skipped == null ? Map.of() : skipped.byReason());
                CliSupport.printJson(doc);
            } else {
                System.out.printf("%s on %s%n%n", c.manifest().displayName(), set.description());
                System.out.print(r.toText());
                System.out.printf("%n%.1f s (%.0f images/s)%n", seconds, r.images() / seconds);
            }
            return 0;
        }
    }
}
