package dev.crmn.model.infer.plan;

import static dev.crmn.model.testutil.Probabilities.assertClose;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.infer.ServingNetwork;
import dev.crmn.model.infer.ServingWeights;
import dev.crmn.model.infer.ServingWeightsFile;
import dev.crmn.model.testutil.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * The NCHW plan the CUDA engine runs, executed by {@link ReferenceOps} (cuDNN's semantics in plain Java), gives
 * the CPU serving network's probabilities: for the shipped model on real CIFAR-10 images, and for random weights
 * of every kind of network (WRN, sum fusion, ReLU memory input). So the layouts that differ between the engines
 * (asymmetric SAME padding, the LSTM's gate order and orientation, the split output layer) are checked without a
 * GPU.
 */
class ServingPlanTest {

    @Test
    void theShippedModelGivesTheServingNetworksProbabilities() throws Exception {
        Checkpoints.Loaded loaded = Checkpoints.load(Path.of("..", "models", "crmn-demo"), false);
        ServingWeights sw = ServingWeights.of(loaded.network(), loaded.manifest().architecture());
        List<PixelImage> images = new ArrayList<>();
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 6);
        for (int i = 0; i < set.size(); i++) {
            images.add(set.image(i));
        }
        try (Classifier c = Classifier.of(loaded, ClassifierOptions.fast())) {
            INDArray x = c.prepare(images);
            assertClose(reference(sw, x), c.probabilities(images));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"wrn-tiny", "crmn-tiny", "crmn-tiny-sum-relu"})
    void randomWeightsOfEachKindGiveTheServingNetworksProbabilities(String variant) {
        CrmnConfig cfg = variant.equals("crmn-tiny-sum-relu")
                ? Presets.get("crmn-tiny").toBuilder().lstmSize(64).fusion(CrmnConfig.Fusion.SUM)
                        .memoryInput(CrmnConfig.MemoryInput.RELU).build()
                : Presets.get(variant);
        ServingWeights sw = ServingWeights.random(cfg, 11);
        INDArray x = org.nd4j.linalg.factory.Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 3, cfg.height(),
                cfg.width(), cfg.channels()).subi(0.5).muli(4);
        try (ServingNetwork net = ServingNetwork.of(sw)) {
            assertClose(reference(sw, x), net.probabilities(x));
        }
    }

    @Test
    void randomWeightsHaveTheShapesATrainedGraphHas() {
        CrmnConfig cfg = Presets.get("crmn-tiny");
        ComputationGraph g = dev.crmn.model.graph.CrmnGraphBuilder.network(cfg, dev.crmn.model.graph.GraphOptions.training());
        try {
            assertThat(shapes(ServingWeights.random(cfg, 1))).isEqualTo(shapes(ServingWeights.of(g, cfg)));
        } finally {
            Graphs.free(g);
        }
    }

    @Test
    void asymmetricSamePaddingIsMadeExplicit() {
        ServingPlan plan = ServingPlan.of(ServingWeights.random(Presets.get("wrn-tiny"), 3));
        // the first block of stages 2 and 3: a 3x3 stride-2 convolution of an even size pads 0 above, 1 below
        List<ServingPlan.ConvSpec> strided = plan.blocks().stream().map(ServingPlan.BlockSpec::conv1)
                .filter(c -> c.stride() == 2).toList();
        assertThat(strided).hasSize(2).allSatisfy(c -> {
            assertThat(c.symmetric()).isFalse();
            assertThat(new int[]{c.padTop(), c.padBottom(), c.padLeft(), c.padRight()}).containsExactly(0, 1, 0, 1);
            assertThat(c.outH()).isEqualTo((c.inH() + 1) / 2);
        });
        assertThat(plan.stem().symmetric()).isTrue();
        assertThat(plan.stem().pad()).isEqualTo(1);
        assertThat(ServingPlan.samePadding(32, 1, 2)).isZero();
        assertThat(ServingPlan.samePadding(7, 3, 2)).isEqualTo(2);
    }

    @Test
    void theServingWeightsFileRoundTripsAndRejectsOtherFiles(@TempDir Path dir) throws Exception {
        ServingWeights sw = ServingWeights.random(Presets.get("crmn-tiny"), 5);
        Path file = dir.resolve("w.bin");
        ServingWeightsFile.write(sw, file);
        ServingWeights back = ServingWeightsFile.read(file);
        assertThat(back.config()).isEqualTo(sw.config());
        assertThat(shapes(back)).isEqualTo(shapes(sw));
        assertThat(back.lstm().recurrent()).isDeepEqualTo(sw.lstm().recurrent());
        assertThat(back.blocks().get(2).conv1().weights()).containsExactly(sw.blocks().get(2).conv1().weights());
        Files.write(dir.resolve("short.bin"), java.util.Arrays.copyOf(Files.readAllBytes(file), 100));
        assertThatThrownBy(() -> ServingWeightsFile.read(dir.resolve("short.bin")))
                .hasMessageContaining("is not a complete serving-weights file");
        Files.writeString(dir.resolve("text.bin"), "hello, world");
        assertThatThrownBy(() -> ServingWeightsFile.read(dir.resolve("text.bin")))
                .hasMessageContaining("is not a serving-weights file");
    }

    /** The plan run by the reference ops on normalised NHWC input {@code x}. */
    static float[][] reference(ServingWeights sw, INDArray x) {
        return ReferenceOps.probabilities(sw, x.dup('c').data().asFloat(), (int) x.size(0));
    }

    /** Every array's length, in order: what must agree between two descriptions of one architecture. */
    private static List<Integer> shapes(ServingWeights sw) {
        List<Integer> s = new ArrayList<>();
        s.add(sw.stem().weights().length);
        for (ServingWeights.Block b : sw.blocks()) {
            s.add(b.bn1().scale().length);
            s.add(b.shortcut() == null ? -1 : b.shortcut().weights().length);
            s.add(b.conv1().weights().length);
            s.add(b.conv1().bias() == null ? -1 : b.conv1().bias().length);
            s.add(b.conv2().weights().length);
            s.add(b.conv1().stride());
        }
        s.add(sw.finalBn().scale().length);
        sw.projections().forEach(p -> s.add(p.length * 1000 + p[0].length));
        s.add(sw.lstm() == null ? -1 : sw.lstm().input().length * 1000 + sw.lstm().recurrent().length);
        s.add(sw.output().length * 1000 + sw.output()[0].length);
        s.add(sw.outputBias().length);
        return s;
    }
}
