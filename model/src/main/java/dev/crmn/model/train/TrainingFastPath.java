package dev.crmn.model.train;

import dev.crmn.model.perf.CpuFastPath;
import java.lang.reflect.Field;
import org.deeplearning4j.nn.api.Layer;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.CacheMode;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.layers.normalization.BatchNormalization;
import org.deeplearning4j.nn.layers.normalization.BatchNormalizationHelper;

/**
 * The training part of the CPU fast path, applied to a DL4J training graph (new or loaded) before it is
 * trained ({@link CpuFastPath#tuneLoadedBackend()} first). Two parts, each with a switch (both off with
 * {@code CRMN_FAST_PATH=off}):
 * <ul>
 *   <li><b>forward cache</b> ({@code -Dcrmn.train.forwardcache=off}): convolutions keep their forward output
 *       for the backward pass (DL4J's {@link CacheMode#DEVICE}); with DL4J's default a convolution layer
 *       recomputes its forward convolution in every backward pass;</li>
 *   <li><b>batch norm</b> ({@code -Dcrmn.train.batchnorm=off}): channels-last batch-norm layers get
 *       {@link ChannelsLastBatchNorm} as their helper instead of DL4J's oneDNN one, whose strided statistics
 *       reductions took a third of a training step.</li>
 * </ul>
 * Neither changes what is computed (tests compare trained weights with and without) nor the checkpoint
 * format. docs/benchmarks.md has the measurements.
 */
public final class TrainingFastPath {

    public static final String FORWARD_CACHE_PROPERTY = "crmn.train.forwardcache";
    public static final String BATCH_NORM_PROPERTY = "crmn.train.batchnorm";

    private TrainingFastPath() {
    }

    /** Applies the parts that are switched on to {@code net}. */
    public static void apply(ComputationGraph net) {
        CpuFastPath.tuneLoadedBackend();
        if (enabled(FORWARD_CACHE_PROPERTY)) {
            cacheForwardPass(net);
        }
        if (enabled(BATCH_NORM_PROPERTY)) {
            installBatchNorm(net);
        }
    }

    /** Whether a part is on: yes unless the fast path or that part is switched off. */
    public static boolean enabled(String partProperty) {
        return !CpuFastPath.disabledByUser() && !CpuFastPath.isOff(System.getProperty(partProperty));
    }

    /** Makes the convolutions keep their forward output for the backward pass. */
    public static void cacheForwardPass(ComputationGraph net) {
        net.getConfiguration().setCacheMode(CacheMode.DEVICE); // makes DL4J open the cache workspace
        net.setCacheMode(CacheMode.DEVICE);                    // makes the layers use it
    }

    /** Gives every NHWC batch-norm layer of {@code net} (with trainable gamma and beta) a {@link ChannelsLastBatchNorm} helper. */
    public static void installBatchNorm(ComputationGraph net) {
        for (Layer layer : net.getLayers()) {
            if (layer instanceof BatchNormalization bn) {
                var conf = (org.deeplearning4j.nn.conf.layers.BatchNormalization) bn.conf().getLayer();
                ChannelsLastBatchNorm helper = new ChannelsLastBatchNorm();
                if (conf.getCnn2DFormat() == CNN2DFormat.NHWC && helper.checkSupported(conf.getEps(), conf.isLockGammaBeta())) {
                    setHelper(bn, helper);
                }
            }
        }
    }

    /** Whether {@code layer}'s helper is the channels-last batch norm (for tests). */
    public static boolean usesChannelsLastBatchNorm(Layer layer) {
        return layer.getHelper() instanceof ChannelsLastBatchNorm;
    }

    /**
     * {@code [training forward passes, backward passes]} that {@code layer}'s channels-last batch norm completed,
     * null when it has none (for tests: DL4J silently falls back to its own batch norm when a helper fails).
     */
    public static long[] channelsLastBatchNormPasses(Layer layer) {
        return layer.getHelper() instanceof ChannelsLastBatchNorm h ? h.passes() : null;
    }

    /** DL4J M2.1 keeps a batch-norm layer's helper in a package-private field and offers no setter. */
    private static void setHelper(BatchNormalization layer, BatchNormalizationHelper helper) {
        try {
            Field f = BatchNormalization.class.getDeclaredField("helper");
            f.setAccessible(true);
            f.set(layer, helper);
        } catch (ReflectiveOperationException | RuntimeException e) {
            throw new IllegalStateException("cannot install the channels-last batch norm on DL4J "
                    + BatchNormalization.class.getPackage().getImplementationVersion()
                    + " (run with -D" + BATCH_NORM_PROPERTY + "=off)", e);
        }
    }
}
