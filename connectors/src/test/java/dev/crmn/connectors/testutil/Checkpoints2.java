package dev.crmn.connectors.testutil;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.Normalization;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;

/** Small real checkpoints for connector tests (untrained crmn-tiny weights with a seed per version). */
public final class Checkpoints2 {

    public static final List<String> CIFAR10 = List.of("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
            "horse", "ship", "truck");

    private Checkpoints2() {
    }

    public static Path tiny(Path dir, long version, Long parent) throws Exception {
        CrmnConfig cfg = Presets.get("crmn-tiny");
        ComputationGraph net = CrmnGraphBuilder.network(cfg, GraphOptions.training().withSeed(version));
        Manifest m = new Manifest(Manifest.CURRENT_SCHEMA, "tiny", version, parent, "crmn-tiny", cfg,
                new Manifest.InputSpec(32, 32, 3, "NHWC"),
                new Normalization(new float[]{0.5f, 0.5f, 0.5f}, new float[]{0.25f, 0.25f, 0.25f}), CIFAR10,
                Map.of("data", "none"), Map.of("val_accuracy", 0.1 * version), "2026-01-01T00:00:00Z", null, 0, null, null);
        Checkpoints.write(dir, net, m);
        return dir;
    }
}
