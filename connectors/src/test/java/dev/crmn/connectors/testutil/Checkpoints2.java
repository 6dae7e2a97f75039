package dev.crmn.connectors.testutil;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.CifarBinaryReader;
import dev.crmn.model.data.Normalization;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;

/** Small real checkpoints for connector tests (untrained crmn-tiny weights with a seed per version). */
public final class Checkpoints2 {

    public static final List<String> CIFAR10 = CifarBinaryReader.CIFAR10_LABELS;

    private Checkpoints2() {
    }

    public static Path tiny(Path dir, long version, Long parent) throws Exception {
        return tiny(dir, version, parent, version);
    }

    /** A tiny checkpoint whose weights come from {@code seed}. */
    public static Path tiny(Path dir, long version, Long parent, long seed) throws Exception {
        CrmnConfig cfg = Presets.get("crmn-tiny");
        ComputationGraph net = CrmnGraphBuilder.network(cfg, GraphOptions.training().withSeed(seed));
        Manifest m = Manifest.builder().name("tiny").version(version).parent(parent, null).preset("crmn-tiny")
                .architecture(cfg).input(new Manifest.InputSpec(32, 32, 3, "NHWC"))
                .normalization(new Normalization(new float[]{0.5f, 0.5f, 0.5f}, new float[]{0.25f, 0.25f, 0.25f}))
                .labels(CIFAR10).training(Map.of("data", "none")).metrics(Map.of("val_accuracy", 0.1 * version))
                .created("2026-01-01T00:00:00Z").build();
        Checkpoints.write(dir, net, m);
        dev.crmn.model.graph.Graphs.free(net);
        return dir;
    }
}
