package dev.crmn.model.graph;

import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Native-memory housekeeping for DL4J graphs. */
public final class Graphs {

    private Graphs() {
    }

    /**
     * Frees a graph that is done with: its parameters, gradients and updater state (every layer's weights are
     * views of these) and its cached layer state. The graph must not be used afterwards.
     *
     * <p>This is {@link ComputationGraph#close()} without two things that make it unfit for a long-running
     * job: DL4J's {@code close()} also destroys every workspace of the calling thread (including those of
     * other networks that thread trains) and calls {@code System.gc()}, a full stop-the-world collection
     * that would stall every task of a TaskManager on each model swap.
     */
    public static void free(ComputationGraph graph) {
        if (graph == null) {
            return;
        }
        graph.clearLayersStates();
        Updater updater = graph.getUpdater(false);
        close(updater == null ? null : updater.getStateViewArray());
        close(graph.getGradientsViewArray());
        close(graph.params());
    }

    private static void close(INDArray a) {
        if (a != null && a.closeable()) {
            a.close();
        }
    }
}
