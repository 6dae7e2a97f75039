package dev.crmn.model.graph;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assertions.within;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

class CrmnGraphTest {

    static java.util.stream.Stream<String> presets() {
        return Presets.all().keySet().stream();
    }

    @ParameterizedTest
    @MethodSource("presets")
    void everyPresetMapsImagesToClassProbabilities(String preset) {
        CrmnConfig cfg = Presets.get(preset);
        ComputationGraph net = CrmnGraphBuilder.network(cfg, GraphOptions.training());
        INDArray x = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 2, cfg.height(), cfg.width(), cfg.channels());
        INDArray out = net.outputSingle(false, x);
        assertThat(out.shape()).containsExactly(2, cfg.classes());
        for (double s : out.sum(1).toDoubleVector()) {
            assertThat(s).isCloseTo(1.0, within(1e-4));
        }
        assertThat(net.getVertex(CrmnGraphBuilder.MEMORY) != null).isEqualTo(cfg.memory());
        net.clear();
    }

    @Test
    void theLstmReadsOneStepPerResidualBlockInDepthOrder() {
        CrmnConfig cfg = Presets.get("crmn-tiny");
        ComputationGraph net = CrmnGraphBuilder.network(cfg, GraphOptions.training());
        INDArray x = Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 3, 32, 32, 3);
        Map<String, INDArray> acts = net.feedForward(x, false);
        INDArray seq = acts.get(CrmnGraphBuilder.MEMORY_SEQUENCE);
        int blocks = cfg.totalBlocks();
        assertThat(blocks).isEqualTo(3);
        assertThat(seq.shape()).containsExactly(3, cfg.memoryInputSize(), blocks); // NCW: [mb, features, steps]
        for (int t = 0; t < blocks; t++) {
            int block = t + 1;
            INDArray step = seq.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t));
            // step t is exactly block t+1's projected vector ...
            assertThat(step.equalsWithEps(acts.get(CrmnGraphBuilder.memoryStep(block)), 1e-6))
                    .as("LSTM step %d is block %d", t, block).isTrue();
            // ... which projects block t+1's output, spatially mean-pooled (NHWC: mean over dims 1, 2).
            INDArray pooled = acts.get(CrmnGraphBuilder.block(block)).mean(1, 2);
            assertThat(acts.get(CrmnGraphBuilder.blockPool(block)).equalsWithEps(pooled, 1e-5)).isTrue();
            INDArray w = net.getLayer(CrmnGraphBuilder.memoryStep(block)).getParam("W");
            assertThat(pooled.mmul(w).equalsWithEps(step, 1e-4)).isTrue();
            if (t > 0) {
                INDArray previous = seq.get(NDArrayIndex.all(), NDArrayIndex.all(), NDArrayIndex.point(t - 1));
                assertThat(step.equalsWithEps(previous, 1e-3)).isFalse();
            }
        }
    }

    @Test
    void memoryOffRemovesTheLstmAndItsInputs() {
        ComputationGraph crmn = CrmnGraphBuilder.network(Presets.get("crmn-tiny"), GraphOptions.training());
        ComputationGraph wrn = CrmnGraphBuilder.network(Presets.get("wrn-tiny"), GraphOptions.training());
        assertThat(crmn.getLayers()).anyMatch(l -> l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep
                || l.conf().getLayer() instanceof LSTM);
        assertThat(wrn.getLayers()).noneMatch(l -> l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep
                || l.conf().getLayer() instanceof LSTM || l.conf().getLayer().getLayerName().startsWith("m"));
        assertThat(wrn.getVertex(CrmnGraphBuilder.MEMORY)).isNull();
        assertThat(wrn.getVertex(CrmnGraphBuilder.MEMORY_SEQUENCE)).isNull();
        // The convolutional trunk is identical: same vertices minus the memory.
        assertThat(crmn.getConfiguration().getVertices().keySet())
                .containsAll(wrn.getConfiguration().getVertices().keySet());
        ModelSummary a = ModelSummary.of(Presets.get("crmn-tiny"));
        ModelSummary b = ModelSummary.of(Presets.get("wrn-tiny"));
        assertThat(a.params()).isGreaterThan(b.params());
        assertThat(a.params()).isEqualTo(crmn.numParams() - bnStatistics(crmn));
        assertThat(b.params()).isEqualTo(wrn.numParams() - bnStatistics(wrn));
    }

    private static long bnStatistics(ComputationGraph net) {
        long n = 0;
        for (org.deeplearning4j.nn.api.Layer l : net.getLayers()) {
            if (l.conf().getLayer() instanceof org.deeplearning4j.nn.conf.layers.BatchNormalization) {
                n += l.numParams() / 2;
            }
        }
        return n;
    }

    @Test
    void wrnParameterCountsMatchThePublishedFigures() {
        // Zagoruyko & Komodakis 2016: WRN-16-4 has 2.7M parameters, WRN-28-10 36.5M.
        assertThat((double) ModelSummary.of(Presets.get("wrn-16-4")).params()).isCloseTo(2.7e6, within(0.02 * 2.7e6));
        assertThat((double) ModelSummary.of(Presets.get("wrn-28-10")).params()).isCloseTo(36.5e6, within(0.02 * 36.5e6));
    }

    @Test
    void multiplyAddsOfTheStemAreCountedExactly() {
        ModelSummary s = ModelSummary.of(Presets.get("wrn-tiny"));
        ModelSummary.LayerInfo stem = s.layers().stream().filter(l -> l.name().equals("stem")).findFirst().orElseThrow();
        assertThat(stem.macs()).isEqualTo(32L * 32 * 3 * 3 * 3 * 16);
        assertThat(stem.params()).isEqualTo(3L * 3 * 3 * 16);
    }

    @Test
    void configurationIsValidated() {
        assertThatThrownBy(() -> CrmnConfig.builder().depth(12).build()).hasMessageContaining("6n+4");
        assertThatThrownBy(() -> CrmnConfig.builder().lstmSize(0).build()).hasMessageContaining("lstm_size");
        assertThatThrownBy(() -> CrmnConfig.builder().fusion(CrmnConfig.Fusion.SUM).lstmSize(10).build())
                .hasMessageContaining("SUM fusion");
        assertThatThrownBy(() -> Presets.get("nope")).hasMessageContaining("crmn-tiny");
        CrmnConfig sum = CrmnConfig.builder().depth(10).widen(1).lstmSize(64).fusion(CrmnConfig.Fusion.SUM).build();
        ComputationGraph net = CrmnGraphBuilder.network(sum, GraphOptions.training().withLayout(CNN2DFormat.NCHW));
        assertThat(net.outputSingle(false, Nd4j.rand(org.nd4j.linalg.api.buffer.DataType.FLOAT, 1, 3, 32, 32)).shape())
                .containsExactly(1, 10);
    }
}
