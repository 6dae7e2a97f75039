package dev.crmn.cuda;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.config.Presets;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.infer.EngineProvider;
import dev.crmn.model.infer.ServingWeights;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The model module finds the CUDA engine through its service file, and hears why it cannot run where it cannot. */
class CudaEngineProviderTest {

    @Test
    void theModelModuleFindsTheCudaEngine() {
        EngineProvider p = EngineProvider.find(ClassifierOptions.Engine.CUDA);
        assertThat(p).isInstanceOf(CudaEngineProvider.class);
        assertThat(EngineProvider.find(ClassifierOptions.Engine.ONNXRUNTIME)).isNull();
    }

    @Test
    void withoutAGpuItSaysWhyInOneLineAndOpensNothing() {
        String why = new CudaEngineProvider().unavailable();
        Assumptions.assumeTrue(why != null, "a CUDA device is present here");
        assertThat(why).doesNotContain("\n");
        assertThatThrownBy(() -> Cuda.device(0)).hasMessage(why); // the same message on every attempt
        assertThatThrownBy(() -> new CudaEngineProvider().open(ServingWeights.random(Presets.get("crmn-tiny"), 1)))
                .isInstanceOf(IllegalStateException.class).hasMessage(why);
        assertThatThrownBy(() -> ClassifierOptions.of("cuda", 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--engine cuda: " + why);
    }
}
