package dev.crmn.model.perf;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.infer.InferenceNetwork;
import dev.crmn.model.infer.ServingNetwork;
import dev.crmn.model.infer.OnnxRuntimeNetwork;
import dev.crmn.model.infer.ServingWeights;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Measures forward (inference) and training-step throughput of a CRMN in the running JVM, and ND4J's
 * matrix-multiply rate. Each figure is the median over timed repetitions after warm-up.
 */
public final class ForwardBench {

    /** How the measured network is materialised. */
    public enum Path {
        /** {@link dev.crmn.model.infer.ServingNetwork}: native ND4J operations, NHWC, batch norm folded (oneDNN kernels on the oneDNN build). */
        FAST,
        /** DL4J's default: the NCHW training graph, {@code ComputationGraph.output()}. */
        PLAIN,
        /** The same network in ONNX Runtime's CPU build ({@link OnnxRuntimeNetwork}, ND4J's thread count). */
        ONNXRUNTIME,
        /** The CUDA engine ({@link dev.crmn.model.infer.EngineProvider}; builds with the cuda13 profile). */
        CUDA
    }

    /** One measurement. */
    public record Point(@JsonProperty("batch") int batch, @JsonProperty("images_per_s") double imagesPerSecond,
                        @JsonProperty("median_ms") double medianMillis, @JsonProperty("repetitions") int repetitions) {
    }

    private ForwardBench() {
    }

    /** Forward images/s for each batch size. */
    public static List<Point> forward(CrmnConfig cfg, Path path, int[] batches, double seconds) {
        ComputationGraph graph = network(cfg, path);
        InferenceNetwork net = switch (path) {
            case PLAIN -> InferenceNetwork.of(graph);
            case FAST -> ServingNetwork.of(graph, cfg);
            case ONNXRUNTIME -> OnnxRuntimeNetwork.of(ServingWeights.of(graph, cfg), 0);
            case CUDA -> {
                dev.crmn.model.infer.EngineProvider cuda = dev.crmn.model.infer.EngineProvider.find(
                        dev.crmn.model.infer.ClassifierOptions.Engine.CUDA);
                if (cuda == null) {
                    Graphs.free(graph);
                    throw new IllegalStateException(dev.crmn.model.infer.ClassifierOptions.NOT_BUILT);
                }
                yield cuda.open(ServingWeights.of(graph, cfg));
            }
        };
        if (path != Path.PLAIN) {
            Graphs.free(graph); // copied into the serving engine
        }
        CNN2DFormat layout = path == Path.PLAIN ? CNN2DFormat.NCHW : CNN2DFormat.NHWC;
        List<Point> out = new ArrayList<>();
        try (net) {
            for (int b : batches) {
                try (INDArray x = input(cfg, layout, b)) {
                    double ms = medianMillis(() -> net.probabilities(x), seconds);
                    out.add(new Point(b, b * 1000.0 / ms, ms, lastRepetitions));
                }
            }
        }
        return out;
    }

    /** Training-step (forward, backward, update) images/s at one batch size. */
    public static Point trainStep(CrmnConfig cfg, Path path, int batch, double seconds) {
        ComputationGraph net = network(cfg, path);
        if (path == Path.FAST) {
            dev.crmn.model.train.TrainingFastPath.apply(net);
        }
        CNN2DFormat layout = path == Path.FAST ? CNN2DFormat.NHWC : CNN2DFormat.NCHW;
        INDArray x = input(cfg, layout, batch);
        INDArray y = Nd4j.zeros(DataType.FLOAT, batch, cfg.classes());
        for (int i = 0; i < batch; i++) {
            y.putScalar(i, i % cfg.classes(), 1f);
        }
        DataSet ds = new DataSet(x, y);
        double ms = medianMillis(() -> net.fit(ds), seconds);
        return new Point(batch, batch * 1000.0 / ms, ms, lastRepetitions);
    }

    /** ND4J float32 matrix-multiply GFLOP/s ({@code n x n} by {@code n x n}). */
    public static double matmulGflops(int n, double seconds) {
        INDArray a = Nd4j.rand(DataType.FLOAT, n, n);
        INDArray b = Nd4j.rand(DataType.FLOAT, n, n);
        INDArray c = Nd4j.create(DataType.FLOAT, n, n);
        double ms = medianMillis(() -> a.mmuli(b, c), seconds);
        return 2.0 * n * n * n / (ms / 1000) / 1e9;
    }

    /** The plain path's graph (NCHW), or the fast path's training graph (NHWC). */
    private static ComputationGraph network(CrmnConfig cfg, Path path) {
        return CrmnGraphBuilder.network(cfg, GraphOptions.training()
                .withLayout(path == Path.PLAIN ? CNN2DFormat.NCHW : CNN2DFormat.NHWC));
    }

    private static INDArray input(CrmnConfig cfg, CNN2DFormat layout, int batch) {
        return layout == CNN2DFormat.NHWC
                ? Nd4j.rand(DataType.FLOAT, batch, cfg.height(), cfg.width(), cfg.channels())
                : Nd4j.rand(DataType.FLOAT, batch, cfg.channels(), cfg.height(), cfg.width());
    }

    private static int lastRepetitions;

    /** Median wall time of {@code task} in ms: 3 warm-up runs, then at least 5 runs and {@code seconds} of them. */
    static double medianMillis(Runnable task, double seconds) {
        for (int i = 0; i < 3; i++) {
            task.run();
        }
        List<Double> times = new ArrayList<>();
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        while (times.size() < 5 || (System.nanoTime() < deadline && times.size() < 10_000)) {
            long t0 = System.nanoTime();
            task.run();
            times.add((System.nanoTime() - t0) / 1e6);
        }
        lastRepetitions = times.size();
        double[] sorted = times.stream().mapToDouble(Double::doubleValue).toArray();
        Arrays.sort(sorted);
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }
}
