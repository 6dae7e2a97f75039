package dev.crmn.model.train;

import dev.crmn.model.data.Batches;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.Normalization;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Random;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Recomputes the inference statistics (running mean and variance) of every batch norm of a network from its
 * current weights, the way stochastic weight averaging does before it evaluates an average ("bn_update").
 *
 * <p>Why: a weight average's batch norms carry the average of the running statistics of the networks it
 * averaged, not the statistics of the averaged network itself; averaged weights give smaller, differently
 * centred activations, and the mismatch costs accuracy. Here the network runs in training mode (every batch norm
 * normalises by its batch's own statistics, so no layer's estimate depends on another's) over {@code images},
 * and each batch norm's running mean and variance become the mean over the batches of its input's per-channel
 * batch mean and (population) variance. Nothing else changes: the trainable weights, the updater state.
 */
public final class BatchNormStatistics {

    private BatchNormStatistics() {
    }

    /**
     * Recomputes every batch norm's statistics of {@code net} from images {@code idx} of {@code set},
     * {@code batchSize} at a time, augmented as in training when {@code augment} is given (the statistics a network
     * trained on augmented images was normalised with: padded crops shift the first layers' means).
     *
     * @return the number of batch norms updated (0 if the network has none)
     * @throws IllegalArgumentException if {@code idx} is empty
     */
    public static int recompute(ComputationGraph net, ImageSet set, int[] idx, Normalization norm, CNN2DFormat layout,
                                int batchSize, Random augment) {
        if (idx.length == 0) {
            throw new IllegalArgumentException("no images to recompute batch-norm statistics on");
        }
        Map<String, String> inputOf = new LinkedHashMap<>(); // batch norm -> the vertex feeding it
        for (Layer l : net.getLayers()) {
            if (l.conf().getLayer() instanceof BatchNormalization) {
                String name = l.conf().getLayer().getLayerName();
                inputOf.put(name, net.getConfiguration().getVertexInputs().get(name).get(0));
            }
        }
        if (inputOf.isEmpty()) {
            return 0;
        }
        Map<String, double[]> meanSum = new LinkedHashMap<>();
        Map<String, double[]> varSum = new LinkedHashMap<>();
        double weightSum = 0;
        for (int from = 0; from < idx.length; from += batchSize) {
            int[] batch = Arrays.copyOfRange(idx, from, Math.min(idx.length, from + batchSize));
            INDArray x = Batches.features(set, batch, norm, layout, augment);
            Map<String, INDArray> acts = net.feedForward(new INDArray[] {x}, true, false);
            try { // open until the statistics are read: a batch norm may read the network's input itself
                for (Map.Entry<String, String> e : inputOf.entrySet()) {
                    INDArray in = acts.get(e.getValue());
                    BatchNormalization conf = (BatchNormalization) net.getLayer(e.getKey()).conf().getLayer();
                    int channelAxis = in.rank() == 4 && conf.getCnn2DFormat() == CNN2DFormat.NHWC ? 3 : 1;
                    double[][] mv = channelMeanAndVariance(in, channelAxis);
                    add(meanSum, e.getKey(), mv[0], batch.length);
                    add(varSum, e.getKey(), mv[1], batch.length);
                }
                weightSum += batch.length;
            } finally {
                for (INDArray a : acts.values()) {
                    if (a != x && a.closeable() && !a.wasClosed()) {
                        a.close();
                    }
                }
                x.close();
            }
        }
        for (String name : inputOf.keySet()) {
            Layer l = net.getLayer(name);
            BatchNormalization conf = (BatchNormalization) l.conf().getLayer();
            double[] mean = scale(meanSum.get(name), 1 / weightSum);
            double[] var = scale(varSum.get(name), 1 / weightSum);
            l.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).assign(row(mean, l));
            if (conf.isUseLogStd()) {
                double[] logStd = new double[var.length];
                for (int c = 0; c < var.length; c++) {
                    logStd[c] = Math.log10(Math.sqrt(var[c] + conf.getEps()));
                }
                l.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).assign(row(logStd, l));
            } else {
                l.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR).assign(row(var, l));
            }
        }
        net.clearLayersStates();
        return inputOf.size();
    }

    /** Per-channel mean and population variance of {@code in} over every axis but {@code channelAxis}. */
    private static double[][] channelMeanAndVariance(INDArray in, int channelAxis) {
        int[] others = new int[in.rank() - 1];
        for (int d = 0, k = 0; d < in.rank(); d++) {
            if (d != channelAxis) {
                others[k++] = d;
            }
        }
        try (INDArray x = in.castTo(DataType.DOUBLE);
             INDArray mean = x.mean(others);
             INDArray var = x.var(false, others)) {
            return new double[][] {mean.toDoubleVector(), var.toDoubleVector()};
        }
    }

    private static void add(Map<String, double[]> sums, String name, double[] v, double weight) {
        double[] s = sums.computeIfAbsent(name, k -> new double[v.length]);
        for (int c = 0; c < v.length; c++) {
            s[c] += v[c] * weight;
        }
    }

    private static double[] scale(double[] v, double f) {
        double[] out = new double[v.length];
        for (int c = 0; c < v.length; c++) {
            out[c] = v[c] * f;
        }
        return out;
    }

    private static INDArray row(double[] v, Layer l) {
        INDArray p = l.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN);
        return Nd4j.createFromArray(v).castTo(p.dataType()).reshape(p.shape());
    }
}
