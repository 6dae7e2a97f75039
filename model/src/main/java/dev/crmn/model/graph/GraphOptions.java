package dev.crmn.model.graph;

import org.deeplearning4j.nn.conf.CNN2DFormat;

/**
 * How a CRMN graph is materialised, as opposed to what it is ({@link dev.crmn.model.config.CrmnConfig}).
 *
 * @param layout        activation layout of every convolution: NHWC (channels last, the fast path) or NCHW
 * @param learningRate  initial learning rate of the Nesterov-momentum SGD updater (training graphs)
 * @param momentum      Nesterov momentum
 * @param weightDecay   decoupled weight decay coefficient (applied to weights, not biases or BN parameters)
 * @param seed          weight initialisation seed
 */
public record GraphOptions(CNN2DFormat layout, double learningRate, double momentum,
                           double weightDecay, long seed) {

    public GraphOptions {
        if (layout == null) {
            throw new IllegalArgumentException("layout must not be null");
        }
        if (learningRate <= 0 || momentum < 0 || momentum >= 1 || weightDecay < 0) {
            throw new IllegalArgumentException("bad optimiser settings: lr=" + learningRate + " momentum=" + momentum
                    + " weightDecay=" + weightDecay);
        }
    }

    /** Training graph on the fast layout: NHWC, batch norm kept, lr 0.1, momentum 0.9, weight decay 5e-4. */
    public static GraphOptions training() {
        return new GraphOptions(CNN2DFormat.NHWC, 0.1, 0.9, 5e-4, 42L);
    }

    public GraphOptions withLayout(CNN2DFormat l) {
        return new GraphOptions(l, learningRate, momentum, weightDecay, seed);
    }

    public GraphOptions withOptimizer(double lr, double mom, double wd) {
        return new GraphOptions(layout, lr, mom, wd, seed);
    }

    public GraphOptions withSeed(long s) {
        return new GraphOptions(layout, learningRate, momentum, weightDecay, s);
    }
}
