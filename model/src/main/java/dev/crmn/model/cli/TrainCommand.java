package dev.crmn.model.cli;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.perf.CpuFastPath;
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

/** {@code crmn train}: train (or resume) a CRMN and write a checkpoint. */
@Command(name = "train", mixinStandardHelpOptions = true,
        description = "Train a CRMN (or plain WRN) on CIFAR binary files or an image folder and write a checkpoint.")
public final class TrainCommand implements Callable<Integer> {

    @Option(names = "--preset", defaultValue = "crmn-demo", description = "Architecture preset (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--data", required = true, split = ",",
            description = "Training data: CIFAR-10/100 .bin files or image folders (comma-separated or repeated).")
    List<Path> data;

    @Option(names = "--out", required = true, description = "Checkpoint directory to create (must not exist).")
    Path out;

    @Option(names = "--name", description = "Model name (default: the preset name).")
    String name;

    @Option(names = "--resume", description = "Resume from this checkpoint (weights, updater state, schedule).")
    Path resume;

    @Option(names = "--epochs", defaultValue = "30", description = "Epoch budget (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = "--max-minutes", defaultValue = "0", description = "Time budget in minutes; 0 = none (default).")
    double maxMinutes;

    @Option(names = "--batch-size", defaultValue = "128", description = "Mini-batch size (default: ${DEFAULT-VALUE}).")
    int batchSize;

    @Option(names = "--lr", defaultValue = "0.1", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    double lr;

    @Option(names = "--momentum", defaultValue = "0.9", description = "Nesterov momentum (default: ${DEFAULT-VALUE}).")
    double momentum;

    @Option(names = "--weight-decay", defaultValue = "5e-4", description = "Weight decay (default: ${DEFAULT-VALUE}).")
    double weightDecay;

    @Option(names = "--holdout", defaultValue = "2000",
            description = "Training images held out for per-epoch evaluation (default: ${DEFAULT-VALUE}).")
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
            System.err.println("error: " + out + " exists; checkpoints are immutable, choose a new --out");
            return 2;
        }
        TrainingSettings settings = TrainingSettings.builder().epochs(epochs).maxMinutes(maxMinutes).batchSize(batchSize)
                .learningRate(lr).momentum(momentum).weightDecay(weightDecay).holdout(holdout).augment(!noAugment)
                .seed(seed).layout(CpuFastPath.disabledByUser() ? CNN2DFormat.NCHW : CNN2DFormat.NHWC).build();
        ImageSet set = ImageSet.load(data, limit);
        String runName = name != null ? name : preset;
        Path logs = logDir != null ? logDir : Path.of("runs", runName + "-"
                + LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        System.err.printf("training on %d images (%s), %d classes; %s; logs in %s%n", set.size(), set.description(),
                set.classNames().size(), CpuFastPath.status(), logs);
        Trainer trainer = new Trainer(settings, new ProgressBar(), logs);
        Trainer.Result r;
        if (resume != null) {
            Checkpoints.Loaded from = Checkpoints.load(resume, true);
            System.err.println("resuming " + from.manifest().displayName() + " from " + resume);
            r = trainer.resume(from, set);
        } else {
            CrmnConfig cfg = Presets.get(preset, set.classNames().size(), set.height(), set.width(), set.channels());
            r = trainer.train(cfg, runName, preset, set);
        }
        Manifest written = Checkpoints.write(out, r.network(), r.manifest(),
                Map.of("training-metrics.json", r.metricsJson(), "training-curves.png", r.curvesPng()));
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("checkpoint", out.toString());
            doc.put("name", written.name());
            doc.put("version", written.version());
            doc.put("sha256", written.sha256());
            doc.put("metrics", written.metrics());
            doc.put("epochs", r.history().size());
            CliSupport.printJson(doc);
        } else {
            System.out.printf("wrote %s (%s, sha256 %s)%nheld-out accuracy %s%n", out, written.displayName(),
                    written.sha256(), r.heldOut() == null ? "n/a" : String.format("%.4f", r.heldOut().accuracy()));
        }
        return 0;
    }
}
