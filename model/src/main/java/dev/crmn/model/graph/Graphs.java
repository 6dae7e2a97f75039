package dev.crmn.model.graph;

import org.deeplearning4j.nn.api.Updater;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
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

    /**
     * A copy of {@code graph}: its configuration, parameters, updater state (momentum) and iteration and epoch
     * counts. Not DL4J's {@link ComputationGraph#clone()}: in 1.0.0-M2.1 that clones the configuration vertex by
     * vertex, and a {@code ReshapeVertex}'s clone drops its reshape order ('f' becomes 'c'), so the CRMN memory's
     * sequence vertex ({@code mem_seq}) of a clone reads the block features in another order than the original,
     * which scored the shipped model 0.6-0.8 points lower on the same images. The configuration goes through its
     * JSON form instead, as a checkpoint's does.
     */
    public static ComputationGraph copy(ComputationGraph graph) {
        ComputationGraphConfiguration conf = ComputationGraphConfiguration.fromJson(graph.getConfiguration().toJson());
        ComputationGraph copy = new ComputationGraph(conf);
        copy.init(graph.params().dup(), false);
        Updater updater = graph.getUpdater(false);
        INDArray state = updater == null ? null : updater.getStateViewArray();
        if (state != null) {
            copy.getUpdater().setStateViewArray(state.dup());
        }
        copy.getConfiguration().setIterationCount(graph.getIterationCount());
        copy.getConfiguration().setEpochCount(graph.getEpochCount());
        return copy;
    }

    /**
     * {@code graph}, or a copy of it with the CRMN memory's sequence vertex ({@code mem_seq}) reading in 'f' order
     * again when its configuration says otherwise (then {@code graph} is freed). Versions fine-tuned by a build that
     * copied networks with DL4J's {@code clone()} (see {@link #copy}) were saved with 'c' there; the serving network
     * always reads 'f', so a trainer that loaded such a version trained another function than the one served.
     */
    public static ComputationGraph withMemoryOrder(ComputationGraph graph) {
        org.deeplearning4j.nn.conf.graph.GraphVertex v = graph.getConfiguration().getVertices()
                .get(CrmnGraphBuilder.MEMORY_SEQUENCE);
        if (!(v instanceof org.deeplearning4j.nn.conf.graph.ReshapeVertex r) || r.getReshapeOrder() == 'f') {
            return graph;
        }
        r.setReshapeOrder('f');
        ComputationGraph fixed = copy(graph); // copied through the configuration's JSON: 'f' from now on
        free(graph);
        return fixed;
    }

    private static void close(INDArray a) {
        if (a != null && a.closeable()) {
            a.close();
        }
    }
}
