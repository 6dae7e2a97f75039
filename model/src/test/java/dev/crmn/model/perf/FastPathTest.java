package dev.crmn.model.perf;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.infer.LayoutCopy;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import dev.crmn.model.infer.ServingNetwork;
import dev.crmn.model.config.CrmnConfig;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import dev.crmn.model.infer.ClassScore;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.testutil.TestData;
import dev.crmn.model.train.Trainer;
import dev.crmn.model.train.TrainingFastPath;
import dev.crmn.model.train.TrainingSettings;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNBatchNormHelper;
import org.deeplearning4j.nn.layers.mkldnn.MKLDNNConvHelper;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * The fast path is real and exact: the test JVM runs with the oneDNN native variant (see the surefire
 * argLine); these tests fail if DL4J's layers silently stop using oneDNN, or if the serving network (native
 * ND4J operations: NHWC, batch norm folded) disagrees with DL4J's plain path on real images.
 */
class FastPathTest {

    @TempDir
    static Path dir;
    static Trainer.Result trained;
    static ImageSet images;

    @BeforeAll
    static void train() throws Exception {
        CpuFastPath.configure();
        ImageSet data = ImageSet.load(List.of(TestData.trainBatch1()), 320);
        TrainingSettings s = TrainingSettings.builder().epochs(2).batchSize(32).holdout(64).build();
        trained = new Trainer(s, null, null).train(Presets.get("crmn-tiny"), "tiny", "crmn-tiny", data);
        images = ImageSet.load(List.of(TestData.testBatch()), 64);
    }

    @Test
    void dl4jLayersUseTheOneDnnHelpers() {
        assumeThat(CpuFastPath.isX86()).as("the oneDNN variant is shipped for x86-64").isTrue();
        assertThat(CpuFastPath.status().fast()).as(CpuFastPath.status().toString()).isTrue();
        ComputationGraph net = CrmnGraphBuilder.network(Presets.get("crmn-tiny"), GraphOptions.training());
        int convs = 0, bns = 0;
        for (Layer l : net.getLayers()) {
            if (l.conf().getLayer() instanceof ConvolutionLayer) {
                assertThat(l.getHelper()).as("helper of %s", l.conf().getLayer().getLayerName())
                        .isInstanceOf(MKLDNNConvHelper.class);
                convs++;
            } else if (l.conf().getLayer() instanceof BatchNormalization) {
                assertThat(l.getHelper()).isInstanceOf(MKLDNNBatchNormHelper.class);
                bns++;
            }
        }
        assertThat(convs).isGreaterThan(5);
        assertThat(bns).isGreaterThan(5);
    }

    @Test
    void servingAndTrainingApplyTheFastPathThemselves() {
        // the test JVMs run two OpenMP threads (surefire config), so ND4J's default would be two; a serving
        // network and a trained graph must each set one, whatever ran before them in this JVM
        org.nd4j.linalg.factory.Nd4j.factory().blas().setMaxThreads(2);
        ServingNetwork.of(trained.network(), trained.manifest().architecture()).close();
        assertThat(CpuFastPath.status().blasThreads()).as("after ServingNetwork.of").isEqualTo(1);
        org.nd4j.linalg.factory.Nd4j.factory().blas().setMaxThreads(2);
        TrainingFastPath.apply(CrmnGraphBuilder.network(Presets.get("crmn-tiny"), GraphOptions.training()));
        assertThat(CpuFastPath.status().blasThreads()).as("after TrainingFastPath.apply").isEqualTo(1);
        assumeThat(CpuFastPath.isX86()).as("the oneDNN variant is shipped for x86-64").isTrue();
        assertThat(CpuFastPath.status().problems()).isEmpty();
        assertThat(CpuFastPath.status().helperBridge()).isTrue();
    }

    @Test
    void foldedNhwcOneDnnOutputsEqualThePlainPathOnRealImages() throws Exception {
        ComputationGraph plain = withoutHelpers(() -> LayoutCopy.of(trained.network(),
                trained.manifest().architecture(), CNN2DFormat.NCHW));
        assertThat(plain.getLayers()).allSatisfy(l -> assertThat(l.getHelper()).isNull());
        Path ck = dir.resolve("ck");
        Checkpoints.write(ck, trained.network(), trained.manifest());
        List<PixelImage> batch = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            batch.add(images.image(i));
        }
        try (Classifier fast = Classifier.load(ck, ClassifierOptions.fast())) {
            assertThat(fast.network()).isInstanceOf(ServingNetwork.class);
            float[][] p = fast.probabilities(batch);
            INDArray plainIn = dev.crmn.model.data.Batches.features(batch, trained.manifest().normalization(), CNN2DFormat.NCHW);
            float[][] q = plain.outputSingle(false, plainIn).toFloatMatrix();
            assertThat(maxDiff(p, q)).as("max |p_fast - p_plain|").isLessThan(1e-4);
            List<List<ClassScore>> top = fast.topK(batch, 3);
            assertThat(top).hasSize(batch.size());
            assertThat(top.get(0)).hasSize(3);
            assertThat(top.get(0).get(0).probability()).isGreaterThanOrEqualTo(top.get(0).get(1).probability());
            assertThat(top.get(0).get(0).label()).isEqualTo(trained.manifest().labels().get(top.get(0).get(0).index()));
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"crmn-tiny", "wrn-tiny", "crmn-sum", "crmn-relu-dropout", "gray-30x30"})
    void servingNetworkComputesWhatTheTrainingGraphComputes(String name) {
        CrmnConfig cfg = switch (name) {
            case "crmn-sum" -> CrmnConfig.builder().depth(10).widen(1).lstmSize(64).memoryInputSize(8)
                    .fusion(CrmnConfig.Fusion.SUM).build();
            case "crmn-relu-dropout" -> CrmnConfig.builder().depth(10).widen(2).lstmSize(16).memoryInputSize(12)
                    .memoryInput(CrmnConfig.MemoryInput.RELU).dropout(0.3).build();
            // odd map sizes (30 -> 15 -> 8) exercise SAME padding with stride 2
            case "gray-30x30" -> CrmnConfig.builder().depth(10).widen(1).lstmSize(8).memoryInputSize(4)
                    .input(30, 30, 1).build();
            default -> Presets.get(name);
        };
        ComputationGraph trainedGraph = CrmnGraphBuilder.network(cfg, GraphOptions.training().withSeed(5));
        randomizeBatchNorms(trainedGraph);
        ServingNetwork served = ServingNetwork.of(trainedGraph, cfg);
        // one instance, batches that grow and shrink: buffers are reused and resized
        for (int n : new int[]{16, 5, 16, 1, 24, 13}) { // 5 and 13 are padded to 8 and 16
            INDArray x = Nd4j.rand(DataType.FLOAT, n, cfg.height(), cfg.width(), cfg.channels()).subi(0.5).muli(4);
            float[][] expected = trainedGraph.outputSingle(false, x).toFloatMatrix();
            float[][] actual = served.probabilities(x);
            assertThat(actual).hasNumberOfRows(n);
            assertThat(actual[0]).hasSize(cfg.classes());
            assertThat(maxDiff(actual, expected)).as("%s, batch %d", name, n).isLessThan(1e-4);
        }
        assertThatThrownBy(() -> served.probabilities(Nd4j.rand(DataType.FLOAT, 2, 3, 32, 32)))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("NHWC");
    }

    @ParameterizedTest
    @ValueSource(strings = {TrainingFastPath.FORWARD_CACHE_PROPERTY, TrainingFastPath.BATCH_NORM_PROPERTY})
    void trainingFastPathPartsLeaveTrainingUnchanged(String part) {
        CrmnConfig cfg = Presets.get("crmn-tiny"); // no dropout: both runs must see the same activations
        ComputationGraph reference = CrmnGraphBuilder.network(cfg, GraphOptions.training().withSeed(3));
        ComputationGraph fast = CrmnGraphBuilder.network(cfg, GraphOptions.training().withSeed(3));
        if (part.equals(TrainingFastPath.FORWARD_CACHE_PROPERTY)) {
            TrainingFastPath.cacheForwardPass(fast);
        } else {
            TrainingFastPath.installBatchNorm(fast);
            long installed = java.util.Arrays.stream(fast.getLayers())
                    .filter(TrainingFastPath::usesChannelsLastBatchNorm).count();
            assertThat(installed).as("batch-norm layers on the channels-last helper").isEqualTo(
                    java.util.Arrays.stream(fast.getLayers()).filter(l -> l.conf().getLayer() instanceof BatchNormalization).count())
                    .isGreaterThan(5);
        }
        INDArray initial = reference.params().dup();
        assertThat(fast.params()).isEqualTo(initial);
        org.nd4j.linalg.api.rng.Random rng = Nd4j.getRandomFactory().getNewRandomInstance(17);
        INDArray x = Nd4j.rand(rng, 32, 32, 32, 3).castTo(DataType.FLOAT).subi(0.3).muli(3);
        INDArray y = Nd4j.zeros(DataType.FLOAT, 32, 10);
        for (int i = 0; i < 32; i++) {
            y.putScalar(i, (i * 7) % 10, 1f);
        }
        org.nd4j.linalg.dataset.DataSet ds = new org.nd4j.linalg.dataset.DataSet(x, y);
        for (ComputationGraph g : new ComputationGraph[]{reference, fast}) { // same weights: same gradient
            g.setInputs(x);
            g.setLabels(y);
            g.computeGradientAndScore();
        }
        if (part.equals(TrainingFastPath.BATCH_NORM_PROPERTY)) { // the helper itself ran, not DL4J's fallback
            for (org.deeplearning4j.nn.api.Layer l : fast.getLayers()) {
                if (TrainingFastPath.usesChannelsLastBatchNorm(l)) {
                    assertThat(TrainingFastPath.channelsLastBatchNormPasses(l)).as("%s: forward, backward passes",
                            l.conf().getLayer().getLayerName()).containsExactly(1, 1);
                }
            }
        }
        INDArray gradient = reference.gradient().gradient();
        double scale = Math.max(1, gradient.amaxNumber().doubleValue());
        assertThat(fast.gradient().gradient().sub(gradient).amaxNumber().doubleValue() / scale)
                .as("gradient with %s (relative)", part).isLessThan(1e-5);
        // a few steps on: float rounding grows through SGD and the batch norms, but stays small
        for (int step = 0; step < 3; step++) {
            reference.fit(ds);
            fast.fit(ds);
        }
        // params() includes the batch norms' running mean and log-std, updated from the batch statistics
        assertThat(reference.params().sub(initial).amaxNumber().doubleValue()).as("training moved the weights")
                .isGreaterThan(1e-3);
        assertThat(fast.params().sub(reference.params()).amaxNumber().doubleValue()).as(part).isLessThan(1e-3);
        assertThat(fast.outputSingle(false, x).sub(reference.outputSingle(false, x)).amaxNumber().doubleValue())
                .as("inference with %s", part).isLessThan(1e-4);
    }

    /** Batch-norm statistics and affine parameters away from their initial values (0, 1), so folding matters. */
    private static void randomizeBatchNorms(ComputationGraph net) {
        org.nd4j.linalg.api.rng.Random rng = Nd4j.getRandomFactory().getNewRandomInstance(11);
        for (Layer l : net.getLayers()) {
            if (l.conf().getLayer() instanceof BatchNormalization) {
                for (java.util.Map.Entry<String, INDArray> p : l.paramTable().entrySet()) {
                    INDArray u = Nd4j.rand(rng, p.getValue().shape()).castTo(DataType.FLOAT);
                    INDArray v = switch (p.getKey()) {
                        case "gamma" -> u.addi(0.5);              // (0.5, 1.5)
                        case "var" -> u.muli(2).addi(0.25);       // (0.25, 2.25)
                        case "log10stdev" -> u.subi(0.5).muli(0.6); // std in (0.5, 2)
                        default -> u.subi(0.5);                  // beta, mean in (-0.5, 0.5)
                    };
                    p.getValue().assign(v);
                }
            }
        }
    }

    @Test
    void classifierTakesGrayImagesAndRefusesWrongSizes() throws Exception {
        Path ck = dir.resolve("ck2");
        Checkpoints.write(ck, trained.network(), trained.manifest());
        try (Classifier c = Classifier.load(ck)) {
            PixelImage gray = images.image(0).toGray();
            float[] p = c.probabilities(List.of(gray))[0];
            assertThat(p).hasSize(10);
            // a gray image is classified as its RGB expansion (R = G = B), not as the colour original
            assertThat(p).containsExactly(c.probabilities(List.of(gray.toRgb()))[0]);
            assertThat(maxDiff(new float[][]{p}, c.probabilities(List.of(images.image(0))))).isGreaterThan(1e-6);
            PixelImage big = images.image(0).resize(40, 40);
            assertThatThrownBy(() -> c.probabilities(List.of(big)))
                    .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("40x40");
        }
    }

    static double maxDiff(float[][] a, float[][] b) {
        assertThat(a.length).isEqualTo(b.length);
        double max = 0;
        for (int i = 0; i < a.length; i++) {
            for (int k = 0; k < a[i].length; k++) {
                max = Math.max(max, Math.abs(a[i][k] - b[i][k]));
            }
        }
        return max;
    }

    private static ComputationGraph withoutHelpers(java.util.function.Supplier<ComputationGraph> build) {
        String old = System.getProperty(CpuFastPath.HELPERS_DISABLE_PROPERTY);
        System.setProperty(CpuFastPath.HELPERS_DISABLE_PROPERTY, "true");
        try {
            return build.get();
        } finally {
            System.setProperty(CpuFastPath.HELPERS_DISABLE_PROPERTY, old == null ? "false" : old);
        }
    }
}
