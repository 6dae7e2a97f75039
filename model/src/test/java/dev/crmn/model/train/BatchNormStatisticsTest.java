package dev.crmn.model.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.testutil.TestData;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import java.util.stream.IntStream;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.ndarray.INDArray;

class BatchNormStatisticsTest {

    static Checkpoints.Loaded shipped;
    static ImageSet train;
    static ImageSet test;
    static double accuracy;

    @BeforeAll
    static void load() throws Exception {
        shipped = Checkpoints.load(Path.of("..", "models", "crmn-demo"), true);
        train = ImageSet.load(List.of(TestData.trainBatch1()), 0); // 400 images the model trained on
        test = ImageSet.load(List.of(TestData.testBatch()), 0);    // 1,000 it never saw
        accuracy = accuracy(shipped.network());
    }

    private static double accuracy(ComputationGraph net) {
        return Evaluator.evaluate(net, test, shipped.manifest().normalization(), CNN2DFormat.NHWC, 250).accuracy();
    }

    private static int recompute(ComputationGraph net) {
        int[] all = IntStream.range(0, train.size()).toArray();
        return BatchNormStatistics.recompute(net, train, all, shipped.manifest().normalization(), CNN2DFormat.NHWC, 128,
                new Random(1));
    }

    private static List<Layer> batchNorms(ComputationGraph net) {
        return List.of(net.getLayers()).stream().filter(l -> l.conf().getLayer() instanceof BatchNormalization).toList();
    }

    @Test
    void theStatisticsOfATrainedNetworkComeBackAsItWasTrainedWithAndNothingElseChanges() {
        ComputationGraph net = dev.crmn.model.graph.Graphs.copy(shipped.network());
        INDArray before = net.params().dup();
        INDArray updater = net.getUpdater().getStateViewArray().dup();
        assertThat(recompute(net)).as("batch norms updated").isEqualTo(13);
        assertThat(accuracy(net)).as("on images it never saw").isCloseTo(accuracy, org.assertj.core.data.Offset.offset(0.02));
        for (Layer l : net.getLayers()) {
            Layer was = shipped.network().getLayer(l.conf().getLayer().getLayerName());
            for (String p : l.paramTable().keySet()) {
                boolean statistic = p.equals(BatchNormalizationParamInitializer.GLOBAL_MEAN)
                        || p.equals(BatchNormalizationParamInitializer.GLOBAL_LOG_STD)
                        || p.equals(BatchNormalizationParamInitializer.GLOBAL_VAR);
                if (!statistic) {
                    assertThat(l.getParam(p)).as(l.conf().getLayer().getLayerName() + " " + p).isEqualTo(was.getParam(p));
                }
            }
        }
        assertThat(net.params()).as("the statistics did change").isNotEqualTo(before);
        assertThat(net.getUpdater().getStateViewArray()).isEqualTo(updater);
    }

    @Test
    void statisticsThatNoLongerMatchTheWeightsAreRepaired() {
        ComputationGraph net = dev.crmn.model.graph.Graphs.copy(shipped.network());
        for (Layer l : batchNorms(net)) { // as if every layer's inputs were standard already
            l.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).assign(0);
            l.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).assign(0);
        }
        assertThat(accuracy(net)).as("the mismatch costs most of the accuracy").isLessThan(accuracy - 0.3);
        recompute(net);
        assertThat(accuracy(net)).isCloseTo(accuracy, org.assertj.core.data.Offset.offset(0.02));
    }

    @Test
    void noImagesIsAnError() {
        ComputationGraph net = dev.crmn.model.graph.Graphs.copy(shipped.network());
        assertThatThrownBy(() -> BatchNormStatistics.recompute(net, train, new int[0], shipped.manifest().normalization(),
                CNN2DFormat.NHWC, 128, null)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("no images");
    }
}
