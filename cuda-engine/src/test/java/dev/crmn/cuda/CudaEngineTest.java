package dev.crmn.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.infer.ServingWeights;
import dev.crmn.model.infer.plan.ReferenceOps;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The CUDA engine. Without a GPU (CI): the engine says what is missing, in one message that names the libraries
 * and where to get them, and the tests that need a device are skipped saying why. With one: the engine gives the
 * reference executor's probabilities for each kind of network, in both layouts, eagerly and replayed as CUDA
 * graphs, for batches that need padding, and refuses bad input.
 */
class CudaEngineTest {

    /** Null where a CUDA device is usable here, else why not (the engine's own message). */
    private static final String NO_GPU = noGpu();

    private static String noGpu() {
        try {
            Cuda.device(0);
            return null;
        } catch (Cuda.CudaException e) {
            return e.getMessage();
        }
    }

    @Test
    void withoutAGpuTheEngineSaysWhatIsMissing() {
        Assumptions.assumeTrue(NO_GPU != null, "a CUDA device is present: nothing is missing");
        assertThat(NO_GPU).satisfiesAnyOf(
                m -> assertThat(m).startsWith("cannot load the CUDA libraries (").endsWith(Cuda.INSTALL_HINT),
                m -> assertThat(m).startsWith("no CUDA device"));
        assertThatThrownBy(() -> CudaEngine.open(ServingWeights.random(Presets.get("crmn-tiny"), 1), 0,
                CudaEngine.Precision.FP32)).isInstanceOf(Cuda.CudaException.class).hasMessage(NO_GPU);
    }

    @Test
    void batchesArePaddedToFewSizes() {
        assertThat(new int[]{CudaEngine.bucket(1), CudaEngine.bucket(3), CudaEngine.bucket(64), CudaEngine.bucket(65),
                CudaEngine.bucket(1000), CudaEngine.bucket(1024)}).containsExactly(1, 4, 64, 128, 1024, 1024);
    }

    @Test
    void channelsLastFiltersAreOhwi() {
        // out 2, in 3, 3x3: OIHW value = o*100 + i*10 + y*3 + x, so each element says where it came from
        float[] w = new float[2 * 3 * 3 * 3];
        for (int o = 0; o < 2; o++) {
            for (int i = 0; i < 3; i++) {
                for (int y = 0; y < 3; y++) {
                    for (int x = 0; x < 3; x++) {
                        w[((o * 3 + i) * 3 + y) * 3 + x] = o * 100 + i * 10 + y * 3 + x;
                    }
                }
            }
        }
        dev.crmn.model.infer.plan.ServingPlan.ConvSpec c = new dev.crmn.model.infer.plan.ServingPlan.ConvSpec(w, null,
                2, 3, 3, 1, 8, 8, 1, 1, 1, 1);
        float[] ohwi = CudnnOps.ohwi(c);
        // [o][y][x][i]: the input channel varies fastest
        assertThat(java.util.Arrays.copyOfRange(ohwi, 0, 4)).containsExactly(0, 10, 20, 1);
        assertThat(ohwi[((1 * 3 + 2) * 3 + 1) * 3 + 2]).isEqualTo(100 + 20 + 2 * 3 + 1); // o1, y2, x1, i2
    }

    @ParameterizedTest
    @ValueSource(strings = {"wrn-tiny", "crmn-tiny", "crmn-tiny-sum-relu"})
    void onAGpuEachKindOfNetworkGivesTheReferenceProbabilities(String variant) {
        Assumptions.assumeTrue(NO_GPU == null, () -> "needs a CUDA device: " + NO_GPU);
        CrmnConfig cfg = variant.equals("crmn-tiny-sum-relu")
                ? Presets.get("crmn-tiny").toBuilder().lstmSize(64).fusion(CrmnConfig.Fusion.SUM)
                        .memoryInput(CrmnConfig.MemoryInput.RELU).build()
                : Presets.get(variant);
        ServingWeights sw = ServingWeights.random(cfg, 7);
        matchesTheReference(sw, false);
        matchesTheReference(sw, true);
    }

    private static void matchesTheReference(ServingWeights sw, boolean nhwc) {
        int pixels = sw.config().height() * sw.config().width() * sw.config().channels();
        Random rnd = new Random(3);
        try (CudaEngine engine = CudaEngine.open(sw, 0, CudaEngine.Precision.FP32, true, nhwc)) {
            for (int n : new int[]{3, 70}) {
                float[] x = new float[n * pixels];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                float[][] expected = ReferenceOps.probabilities(sw, x, n);
                for (int repeat = 0; repeat < 2; repeat++) { // eager, then a graph
                    float[][] p = engine.probabilities(x, n);
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < p[i].length; j++) {
                            assertThat((double) p[i][j]).as("nhwc=%s", nhwc).isCloseTo(expected[i][j],
                                    org.assertj.core.data.Offset.offset(1e-3));
                        }
                    }
                }
            }
            assertThat(engine.graphsOff()).isNull();
            assertThatThrownBy(() -> engine.probabilities(new float[pixels + 1], 1))
                    .isInstanceOf(IllegalArgumentException.class);
        }
    }
}
