package dev.crmn.model.infer;

import static dev.crmn.model.testutil.Probabilities.assertClose;
import static org.assertj.core.api.Assertions.assertThat;

import ai.onnxruntime.OnnxTensor;
import ai.onnxruntime.OrtEnvironment;
import ai.onnxruntime.OrtSession;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.testutil.TestData;
import dev.crmn.model.train.Trainer;
import dev.crmn.model.train.TrainingSettings;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The exported ONNX model, run by ONNX Runtime's CPU build on real CIFAR-10 images, gives the probabilities the
 * serving network gives (within 1e-4), for the shipped CRMN and for briefly trained CRMN (concatenation and sum
 * fusion, ReLU memory input) and WRN networks; a user needs nothing but the file: raw 0–255 pixels in, labels and
 * the source checkpoint in its metadata.
 */
class OnnxExportTest {

    static ImageSet images;

    @BeforeAll
    static void load() throws Exception {
        images = ImageSet.load(List.of(TestData.testBatch()), 64);
    }

    @Test
    void theShippedModelRunsInOnnxRuntimeAsOnTheFastPath(@TempDir Path dir) throws Exception {
        Checkpoints.Loaded loaded = Checkpoints.load(Path.of("..", "models", "crmn-demo"), false);
        Path file = dir.resolve("crmn-demo.onnx");
        OnnxExport.write(ServingWeights.of(loaded.network(), loaded.manifest().architecture()), loaded.manifest(), file);
        float[][] onnx = run(Files.readAllBytes(file), loaded.manifest());
        try (Classifier c = Classifier.of(loaded, ClassifierOptions.fast())) {
            assertClose(onnx, c.probabilities(list()));
        }
    }

    @Test
    void theOnnxRuntimeEngineGivesWhatTheServingNetworkGivesForAnyBatch() throws Exception {
        Path shipped = Path.of("..", "models", "crmn-demo");
        try (Classifier fast = Classifier.load(shipped, ClassifierOptions.fast());
             Classifier ort = Classifier.load(shipped, ClassifierOptions.of("onnxruntime", 2))) {
            assertThat(ort.network()).isInstanceOf(OnnxRuntimeNetwork.class);
            List<PixelImage> all = list();
            for (int n : new int[]{1, 5, 64}) {
                assertClose(ort.probabilities(all.subList(0, n)), fast.probabilities(all.subList(0, n)));
            }
        }
        Classifier closed = Classifier.load(shipped, ClassifierOptions.onnxRuntime(1));
        closed.close();
        closed.close(); // idempotent
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> closed.network().probabilities(
                org.nd4j.linalg.factory.Nd4j.zeros(1, 32, 32, 3))).isInstanceOf(IllegalStateException.class);
        org.assertj.core.api.Assertions.assertThatThrownBy(() -> ClassifierOptions.of("tensorrt", 0))
                .hasMessage("unknown engine 'tensorrt' (cpu, cuda, auto, onnxruntime or plain)");
    }

    @ParameterizedTest
    @ValueSource(strings = {"crmn-tiny", "wrn-tiny", "crmn-tiny-sum-relu"})
    void trainedNetworksOfEachKindMatch(String variant) throws Exception {
        CrmnConfig cfg = variant.equals("crmn-tiny-sum-relu")
                ? Presets.get("crmn-tiny").toBuilder().lstmSize(64).fusion(CrmnConfig.Fusion.SUM)
                        .memoryInput(CrmnConfig.MemoryInput.RELU).build()
                : Presets.get(variant);
        TrainingSettings s = TrainingSettings.builder().epochs(1).batchSize(32).holdout(0).build();
        Trainer.Result r = new Trainer(s, null, null).train(cfg, variant, null, images);
        ComputationGraph g = r.network();
        float[][] onnx = run(OnnxExport.toBytes(ServingWeights.of(g, cfg), r.manifest()), r.manifest());
        try (Classifier c = Classifier.copyOf(r.manifest(), g, ClassifierOptions.fast())) {
            assertClose(onnx, c.probabilities(list()));
        }
    }

    private static List<PixelImage> list() {
        List<PixelImage> l = new ArrayList<>();
        for (int i = 0; i < images.size(); i++) {
            l.add(images.image(i));
        }
        return l;
    }

    /** ONNX Runtime on raw pixels (0–255, NHWC), checking the model's declared input, output and metadata. */
    static float[][] run(byte[] model, Manifest m) throws Exception {
        OrtEnvironment env = OrtEnvironment.getEnvironment();
        try (OrtSession.SessionOptions o = new OrtSession.SessionOptions();
             OrtSession session = env.createSession(model, o)) {
            assertThat(session.getInputNames()).containsExactly(OnnxExport.INPUT);
            assertThat(session.getOutputNames()).containsExactly(OnnxExport.OUTPUT);
            Map<String, String> meta = session.getMetadata().getCustomMetadata();
            List<String> labels = new ObjectMapper().readValue(meta.get("labels"),
                    new com.fasterxml.jackson.core.type.TypeReference<List<String>>() { });
            assertThat(labels).isEqualTo(m.labels());
            assertThat(meta).containsEntry("model_name", m.name()).containsEntry("model_version", Long.toString(m.version()));
            float[][][][] x = new float[images.size()][][][];
            for (int i = 0; i < images.size(); i++) {
                PixelImage p = images.image(i);
                x[i] = new float[p.height()][p.width()][p.channels()];
                for (int y = 0; y < p.height(); y++) {
                    for (int xx = 0; xx < p.width(); xx++) {
                        for (int c = 0; c < p.channels(); c++) {
                            x[i][y][xx][c] = p.value(y, xx, c);
                        }
                    }
                }
            }
            try (OnnxTensor t = OnnxTensor.createTensor(env, x); OrtSession.Result out = session.run(Map.of(OnnxExport.INPUT, t))) {
                return (float[][]) out.get(0).getValue();
            }
        }
    }
}
