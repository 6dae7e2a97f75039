package dev.crmn.model.infer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import org.junit.jupiter.api.Test;

/** Engine selection in a build without the CUDA engine (the model module's own class path has none). */
class ClassifierOptionsTest {

    @Test
    void cudaInABuildWithoutItSaysHowToGetIt() {
        assertThat(EngineProvider.find(ClassifierOptions.Engine.CUDA)).isNull();
        assertThatThrownBy(() -> ClassifierOptions.of("cuda", 0)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--engine cuda: " + ClassifierOptions.NOT_BUILT);
        assertThatThrownBy(() -> ClassifierOptions.checkBuilt("CUDA")).hasMessage("--engine cuda: " + ClassifierOptions.NOT_BUILT);
        assertThatThrownBy(() -> ClassifierOptions.checkBuilt("tpu")).hasMessageContaining("unknown engine 'tpu'");
        ClassifierOptions.checkBuilt("auto"); // resolved where the network runs
        ClassifierOptions.checkBuilt("onnxruntime");
    }

    @Test
    void autoFallsBackToTheCpuFastPath() {
        assertThat(ClassifierOptions.of("auto", 0)).isEqualTo(ClassifierOptions.defaults());
        assertThat(ClassifierOptions.of(" AUTO ", 0).engine()).isEqualTo(ClassifierOptions.Engine.CPU);
    }
}
