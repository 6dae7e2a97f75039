package dev.crmn.model.infer;

import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Normalised images in, class probabilities out. Not thread-safe, like the networks behind it. */
public interface InferenceNetwork {

    /** Class probabilities {@code [n, classes]} for normalised input {@code [n, ...]} in the network's layout. */
    INDArray output(INDArray input);

    /** Releases cached activations. */
    void close();

    /** A DL4J graph whose single output is the softmax. */
    static InferenceNetwork of(ComputationGraph graph) {
        return new InferenceNetwork() {
            @Override
            public INDArray output(INDArray input) {
                return graph.outputSingle(false, input);
            }

            @Override
            public void close() {
                graph.clear();
            }
        };
    }
}
