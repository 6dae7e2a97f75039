package dev.crmn.model.graph;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.infer.InferenceNetwork;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * The fast serving form of a trained CRMN: the convolutional trunk as a DL4J graph with batch norm folded
 * ({@link BatchNormFolding}), ending at {@code final_pool} and {@code mem_seq}; then the memory as one call
 * of ND4J's native {@code lstmLayer} op, and the fusion and softmax classifier as three ND4J operations.
 * DL4J's own LSTM layer issues about twenty small operations per time step, which cost more than all the
 * memory's arithmetic (docs/benchmarks.md); the native op computes the same recurrence.
 *
 * <p>Weights are copied from the trained network. DL4J stores the LSTM's four gate blocks in the order
 * (cell input, forget, output, input gate); {@code lstmLayer} wants (input, forget, cell input, output).
 * Not thread-safe.
 */
public final class ServingNetwork implements InferenceNetwork {

    private static final int[] DL4J_TO_ND4J_GATES = {3, 1, 0, 2};

    private final CrmnConfig cfg;
    private final ComputationGraph trunk;
    private final INDArray inputWeights;
    private final INDArray recurrentWeights;
    private final INDArray lstmBias;
    private final INDArray outputWeights;
    private final INDArray outputBias;

    private ServingNetwork(CrmnConfig cfg, ComputationGraph trunk, INDArray inputWeights, INDArray recurrentWeights,
                           INDArray lstmBias, INDArray outputWeights, INDArray outputBias) {
        this.cfg = cfg;
        this.trunk = trunk;
        this.inputWeights = inputWeights;
        this.recurrentWeights = recurrentWeights;
        this.lstmBias = lstmBias;
        this.outputWeights = outputWeights;
        this.outputBias = outputBias;
    }

    /** The serving form of {@code trained} (a training graph of {@code cfg}); {@code trained} is not changed. */
    public static ServingNetwork of(ComputationGraph trained, CrmnConfig cfg, CNN2DFormat layout) {
        ComputationGraph trunk = BatchNormFolding.servingCopy(trained, cfg, layout, true);
        INDArray w = null, rw = null, b = null;
        if (cfg.memory()) {
            org.deeplearning4j.nn.api.Layer lstm = trained.getLayer(CrmnGraphBuilder.MEMORY);
            int h = cfg.lstmSize();
            w = gates(lstm.getParam("W"), h);
            rw = gates(lstm.getParam("RW"), h);
            b = gates(lstm.getParam("b").reshape(1, -1), h).reshape(-1);
        }
        org.deeplearning4j.nn.api.Layer out = trained.getLayer(CrmnGraphBuilder.OUTPUT);
        return new ServingNetwork(cfg, trunk, w, rw, b, out.getParam("W").dup('c'), out.getParam("b").dup('c').reshape(1, -1));
    }

    /** Reorders the four gate blocks (columns) from DL4J's layout to lstmLayer's, as a fresh c-order array. */
    private static INDArray gates(INDArray dl4j, int h) {
        INDArray out = Nd4j.create(dl4j.dataType(), dl4j.shape(), 'c');
        for (int k = 0; k < 4; k++) {
            int src = DL4J_TO_ND4J_GATES[k];
            out.get(NDArrayIndex.all(), NDArrayIndex.interval(k * h, (k + 1) * h))
                    .assign(dl4j.get(NDArrayIndex.all(), NDArrayIndex.interval(src * h, (src + 1) * h)));
        }
        return out;
    }

    /** The DL4J part (for inspection). */
    public ComputationGraph trunk() {
        return trunk;
    }

    @Override
    public INDArray output(INDArray input) {
        INDArray[] acts = trunk.output(false, input);
        INDArray features = acts[0];
        if (cfg.memory()) {
            INDArray h = lastHidden(acts[1]);
            features = cfg.fusion() == CrmnConfig.Fusion.SUM ? features.add(h) : Nd4j.hstack(features, h);
        }
        INDArray logits = features.mmul(outputWeights).addiRowVector(outputBias);
        return Activation.SOFTMAX.getActivationFunction().getActivation(logits, false);
    }

    /** The LSTM's last hidden state for an NCW sequence {@code [n, features, steps]}. */
    private INDArray lastHidden(INDArray sequence) {
        INDArray x = sequence.ordering() == 'c' ? sequence : sequence.dup('c');
        INDArray h = Nd4j.create(DataType.FLOAT, x.size(0), cfg.lstmSize());
        Nd4j.exec(DynamicCustomOp.builder("lstmLayer")
                .addInputs(x, inputWeights, recurrentWeights, lstmBias)
                .addOutputs(h)
                // data format NST = [batch, features, time], forward; gate sigmoid, cell and output tanh
                .addIntegerArguments(2, 0, 2, 0, 0)
                .addFloatingPointArguments(0.0) // no cell clipping
                // has bias, no sequence lengths, no initial h/c, no peepholes; return only the last h
                .addBooleanArguments(true, false, false, false, false, false, true, false)
                .build());
        return h;
    }

    @Override
    public void close() {
        trunk.clear();
    }
}
