package dev.crmn.model.infer;

import dev.crmn.model.graph.Graphs;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Normalised images in, class probabilities out: the engine behind a {@link Classifier} (the CPU
 * {@link ServingNetwork}, DL4J's plain graph, later a GPU engine). Not thread-safe, like the networks behind it.
 * A network owns its native memory; {@link #close()} frees it.
 */
public interface InferenceNetwork extends AutoCloseable {

    /**
     * Class probabilities {@code [n][classes]} for normalised input {@code [n, ...]} in the network's layout.
     * The input is neither changed nor kept; the result is plain Java memory.
     */
    float[][] probabilities(INDArray input);

    /** What runs the network, for logs and metrics (the CUDA engine names its device); empty if nothing to add. */
    default String describe() {
        return "";
    }

    /** Frees everything the network owns (weights, buffers); it cannot be used afterwards. Idempotent. */
    @Override
    void close();

    /**
     * Checks that {@code input} is a batch of NHWC images of {@code cfg}'s size (the serving engines' input).
     *
     * @throws IllegalArgumentException naming both shapes otherwise
     */
    static void requireNhwc(INDArray input, dev.crmn.model.config.CrmnConfig cfg) {
        if (input.rank() != 4 || input.size(1) != cfg.height() || input.size(2) != cfg.width()
                || input.size(3) != cfg.channels()) {
            throw new IllegalArgumentException("input " + java.util.Arrays.toString(input.shape()) + " is not NHWC [n, "
                    + cfg.height() + ", " + cfg.width() + ", " + cfg.channels() + "]");
        }
    }

    /** A DL4J graph whose single output is the softmax; the network owns the graph and frees it on close. */
    static InferenceNetwork of(ComputationGraph graph) {
        return new InferenceNetwork() {
            private boolean closed;

            @Override
            public float[][] probabilities(INDArray input) {
                if (closed) {
                    throw new IllegalStateException("the network is closed");
                }
                try (INDArray out = graph.outputSingle(false, input)) {
                    return out.toFloatMatrix();
                }
            }

            @Override
            public void close() {
                if (!closed) {
                    closed = true;
                    Graphs.free(graph);
                }
            }
        };
    }
}
