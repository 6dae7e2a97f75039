package dev.crmn.model.eval;

import dev.crmn.model.data.Batches;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.Normalization;
import java.util.Arrays;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Evaluates a network on a labelled {@link ImageSet} in inference mode. */
public final class Evaluator {

    private Evaluator() {
    }

    /**
     * Evaluates a DL4J graph (training layout; it stays the caller's, its layer state is cleared afterwards).
     *
     * @param layout the network's input layout
     * @param batchSize images per forward pass
     */
    public static EvaluationReport evaluate(ComputationGraph net, ImageSet set, Normalization norm, CNN2DFormat layout,
                                            int batchSize) {
        EvaluationReport r = evaluate(x -> {
            try (INDArray out = net.outputSingle(false, x)) {
                return out.toFloatMatrix();
            }
        }, set, norm, layout, batchSize);
        net.clearLayersStates();
        return r;
    }

    /** The forward pass an evaluation needs: normalised input in, probabilities out. */
    @FunctionalInterface
    public interface Forward {
        float[][] probabilities(INDArray input);
    }

    /** As above, for any network, e.g. a classifier's ({@code classifier.network()::probabilities}). */
    public static EvaluationReport evaluate(Forward net, ImageSet set, Normalization norm, CNN2DFormat layout,
                                            int batchSize) {
        return evaluate(net, set, norm, layout, batchSize, done -> { });
    }

    /** As above, telling {@code progress} the number of images evaluated after each batch. */
    public static EvaluationReport evaluate(Forward net, ImageSet set, Normalization norm, CNN2DFormat layout,
                                            int batchSize, java.util.function.IntConsumer progress) {
        int k = set.classNames().size();
        int topK = Math.min(5, k);
        long[][] confusion = new long[k][k];
        int[] predictions = new int[set.size()];
        double[] losses = new double[set.size()];
        long correct = 0, correctTopK = 0;
        double lossSum = 0;
        for (int start = 0; start < set.size(); start += batchSize) {
            int n = Math.min(batchSize, set.size() - start);
            int[] idx = new int[n];
            for (int j = 0; j < n; j++) {
                idx[j] = start + j;
            }
            float[][] p;
            try (INDArray x = Batches.features(set, idx, norm, layout, null)) {
                p = net.probabilities(x);
            }
            for (int j = 0; j < n; j++) {
                int actual = set.label(idx[j]);
                int predicted = argmax(p[j]);
                predictions[idx[j]] = predicted;
                confusion[actual][predicted]++;
                if (predicted == actual) {
                    correct++;
                }
                if (rank(p[j], actual) < topK) {
                    correctTopK++;
                }
                losses[idx[j]] = -Math.log(Math.max(p[j][actual], 1e-12));
                lossSum += losses[idx[j]];
            }
            progress.accept(start + n);
        }
        double[] perClass = new double[k];
        for (int i = 0; i < k; i++) {
            long total = Arrays.stream(confusion[i]).sum();
            perClass[i] = total == 0 ? Double.NaN : (double) confusion[i][i] / total;
        }
        int total = set.size();
        return new EvaluationReport(total, (double) correct / total, (double) correctTopK / total, lossSum / total,
                set.classNames(), perClass, confusion, predictions, losses);
    }

    /** Index of the largest value. */
    public static int argmax(float[] v) {
        int best = 0;
        for (int i = 1; i < v.length; i++) {
            if (v[i] > v[best]) {
                best = i;
            }
        }
        return best;
    }

    /** How many classes score strictly higher than {@code cls}. */
    static int rank(float[] v, int cls) {
        int r = 0;
        for (float f : v) {
            if (f > v[cls]) {
                r++;
            }
        }
        return r;
    }
}
