package dev.crmn.model.train;

import dev.crmn.model.data.Batches;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.Normalization;
import dev.crmn.model.eval.Evaluator;
import java.util.Random;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.dataset.DataSet;

/** One optimisation step, and one accuracy sample, on a mini-batch of an {@link ImageSet}; frees its arrays. */
final class TrainingStep {

    private TrainingStep() {
    }

    /**
     * Fits {@code net} on images {@code idx} of {@code set} (augmented when {@code augment} is given).
     *
     * @return the step's loss
     * @throws IllegalStateException if the loss is not finite (the run diverged)
     */
    static double fit(ComputationGraph net, ImageSet set, int[] idx, Normalization norm, CNN2DFormat layout,
                      Random augment) {
        return fit(net, null, null, 0, set, idx, norm, layout, augment, 0, 0);
    }

    /**
     * As {@link #fit(ComputationGraph, ImageSet, int[], Normalization, CNN2DFormat, Random)}, towards targets that mix
     * {@code teacher}'s predictions on the same augmented images into their labels: {@code (1 - weight) * one-hot +
     * weight * teacher} (knowledge distillation at temperature 1; no teacher or weight 0: the labels alone), the images
     * with a {@code cutout}-pixel square cut ({@link Batches}; 0: none) and the labels smoothed by {@code smoothing}
     * ({@code (1 - s) * one-hot + s / classes}, before the teacher's share; 0: none); the batch shared between {@code
     * parallel}'s replicas when it is given (the same images and targets: the batch is built here, on the calling
     * thread, either way).
     */
    static double fit(ComputationGraph net, DataParallel parallel, ComputationGraph teacher, double weight, ImageSet set,
                      int[] idx, Normalization norm, CNN2DFormat layout, Random augment, int cutout, double smoothing) {
        try (INDArray x = Batches.features(set, idx, norm, layout, augment, cutout);
             INDArray y = Batches.oneHot(set, idx)) {
            if (smoothing > 0) {
                y.muli(1 - smoothing).addi(smoothing / y.size(1));
            }
            return parallel == null ? fitOne(net, teacher, weight, x, y) : parallel.fit(x, y, weight);
        }
    }

    /** One step of {@code net} alone on images {@code x} towards {@code y} (the teacher's share mixed in first). */
    static double fitOne(ComputationGraph net, ComputationGraph teacher, double weight, INDArray x, INDArray y) {
        mixTeacher(teacher, weight, x, y);
        net.fit(new DataSet(x, y));
        double score = net.score();
        if (!Double.isFinite(score)) {
            throw new IllegalStateException("training diverged: loss " + score + " at iteration "
                    + net.getIterationCount() + " (lower the learning rate)");
        }
        return score;
    }

    /** {@code y = (1 - weight) * y + weight * teacher(x)}, in place; nothing without a teacher or at weight 0. */
    static void mixTeacher(ComputationGraph teacher, double weight, INDArray x, INDArray y) {
        if (teacher != null && weight > 0) {
            try (INDArray p = teacher.outputSingle(false, x)) {
                y.muli(1 - weight).addi(p.muli(weight));
            }
        }
    }

    /** How many of images {@code idx} {@code net} classifies correctly (inference mode, no augmentation). */
    static int correct(ComputationGraph net, ImageSet set, int[] idx, Normalization norm, CNN2DFormat layout) {
        float[][] out;
        try (INDArray x = Batches.features(set, idx, norm, layout, null);
             INDArray p = net.outputSingle(false, x)) {
            out = p.toFloatMatrix();
        }
        int correct = 0;
        for (int j = 0; j < idx.length; j++) {
            if (Evaluator.argmax(out[j]) == set.label(idx[j])) {
                correct++;
            }
        }
        return correct;
    }
}
