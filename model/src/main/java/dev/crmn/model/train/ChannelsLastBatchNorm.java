package dev.crmn.model.train;

import dev.crmn.model.util.NativeOps;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.gradient.DefaultGradient;
import org.deeplearning4j.nn.gradient.Gradient;
import org.deeplearning4j.nn.layers.normalization.BatchNormalizationHelper;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.deeplearning4j.nn.workspace.ArrayType;
import org.deeplearning4j.nn.workspace.LayerWorkspaceMgr;
import org.nd4j.common.primitives.Pair;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.memory.MemoryWorkspace;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.api.ops.impl.broadcast.BroadcastSubOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.MulOp;
import org.nd4j.linalg.api.ops.impl.transforms.pairwise.arithmetic.SubOp;
import org.nd4j.linalg.api.shape.Shape;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Batch normalisation of channels-last (NHWC) float activations for DL4J's {@code BatchNormalization} layer,
 * installed by {@link TrainingFastPath}. DL4J's oneDNN helper computes the batch mean and variance, and its
 * backward pass the per-channel sums, as ND4J reductions over the {@code [N, H, W]} axes, which stride over
 * the channels and took a third of a crmn-demo training step; here every per-channel mean is oneDNN average
 * pooling over each image's map followed by a mean over the (small) batch axis, and the rest are
 * element-wise passes over the activations viewed as {@code [N*H*W, C]}.
 *
 * <p>Forward (training): {@code mean}, then {@code var = mean((x - mean)^2)} (two passes, no cancellation),
 * then ND4J's {@code batchnorm} op. Backward, with {@code xhat = (x - mean) / sqrt(var + eps)}:
 * {@code dbeta = sum(dy)}, {@code dgamma = sum(dy * xhat)},
 * {@code dx = gamma / sqrt(var + eps) * (dy - mean(dy) - xhat * mean(dy * xhat))}.
 * Other layouts, ranks and data types return {@code null}, which makes DL4J use its own implementation.
 */
final class ChannelsLastBatchNorm implements BatchNormalizationHelper {

    /** Batch statistics of the last training forward pass, {@code [C]}, outside any workspace. */
    private INDArray meanCache;
    private INDArray varCache;
    /**
     * Training passes this helper completed. DL4J catches a helper's exception, logs it and runs its own batch norm
     * instead, with the same results: a helper that always fails is invisible in the numbers, only in the speed and the
     * log, so the tests count what ran here.
     */
    private long forwardPasses;
    private long backwardPasses;

    /** {@code [training forward passes, backward passes]} completed here (for tests). */
    long[] passes() {
        return new long[]{forwardPasses, backwardPasses};
    }

    @Override
    public boolean checkSupported(double eps, boolean fixedGammaBeta) {
        return !fixedGammaBeta;
    }

    @Override
    public boolean checkSupported() {
        return true;
    }

    @Override
    public Map<String, Long> helperMemoryUse() {
        return Map.of();
    }

    private static boolean supported(INDArray x, CNN2DFormat format) {
        return format == CNN2DFormat.NHWC && x.rank() == 4 && x.dataType() == DataType.FLOAT;
    }

    private static INDArray contiguous(INDArray a) {
        return a.ordering() == 'c' && Shape.hasDefaultStridesForShape(a) ? a : a.dup('c');
    }

    @Override
    public INDArray preOutput(INDArray x, boolean training, long[] shape, INDArray gamma, INDArray beta,
                              INDArray mean, INDArray var, double decay, double eps, CNN2DFormat format,
                              LayerWorkspaceMgr workspaceMgr) {
        if (!supported(x, format)) {
            return null;
        }
        x = contiguous(x);
        long c = x.size(3);
        INDArray m;
        INDArray v;
        if (training) {
            if (meanCache == null || meanCache.length() != c) {
                try (MemoryWorkspace ignored = Nd4j.getMemoryManager().scopeOutOfWorkspaces()) {
                    meanCache = Nd4j.create(DataType.FLOAT, c);
                    varCache = Nd4j.create(DataType.FLOAT, c);
                }
            }
            // in the layer's working memory, as every temporary ND4J makes inside the ops (see backpropGradient);
            // arrays are made with Nd4j.* in the borrowed workspace: workspaceMgr.create* would borrow it again,
            // which ND4J refuses ("Can't borrow from borrowed workspace")
            try (MemoryWorkspace ignored = workspaceMgr.notifyScopeBorrowed(ArrayType.FF_WORKING_MEM)) {
                channelMean(x, meanCache);
                INDArray centered = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
                Nd4j.exec(new BroadcastSubOp(x, meanCache, centered, 3));
                centered.muli(centered);
                channelMean(centered, varCache);
            }
            m = meanCache;
            v = varCache;
            forwardPasses++;
        } else {
            m = mean.reshape(c);
            v = var.reshape(c);
        }
        INDArray out = workspaceMgr.createUninitialized(ArrayType.ACTIVATIONS, DataType.FLOAT, x.shape());
        Nd4j.exec(DynamicCustomOp.builder("batchnorm")
                .addInputs(x, m, v, gamma.reshape(c), beta.reshape(c)).addOutputs(out)
                .addIntegerArguments(1, 1, 3) // apply gamma, apply beta, channel axis (NHWC)
                .addFloatingPointArguments(eps)
                .build());
        return out;
    }

    @Override
    public Pair<Gradient, INDArray> backpropGradient(INDArray x, INDArray dy, long[] shape, INDArray gamma,
                                                     INDArray beta, INDArray dGammaView, INDArray dBetaView,
                                                     double eps, CNN2DFormat format, LayerWorkspaceMgr workspaceMgr) {
        if (!supported(x, format) || meanCache == null || dGammaView == null) {
            return null;
        }
        // Every array of this pass lives in the layer's working memory, including those only a broadcast op refers
        // to (its dimension array, a row vector computed for the call): ND4J hands the native call their buffers
        // alone, so once the op object is no longer used, an array outside a workspace can be freed by ND4J's
        // deallocator thread while the native op still reads it. A CI run's JVM crashed so (SIGSEGV in
        // DataBuffer::special() under execBroadcast, from muliRowVector here). Workspace memory is never freed by
        // the garbage collector. dx is made before that workspace is borrowed: the manager's create* borrows one
        // itself, and ND4J refuses to borrow a borrowed workspace.
        INDArray dx = workspaceMgr.createUninitialized(ArrayType.ACTIVATION_GRAD, DataType.FLOAT, x.shape());
        Pair<Gradient, INDArray> result;
        try (MemoryWorkspace ignored = workspaceMgr.notifyScopeBorrowed(ArrayType.BP_WORKING_MEM)) {
            result = backprop(x, dy, gamma, dGammaView, dBetaView, eps, dx);
        }
        backwardPasses++;
        return result;
    }

    /** The backward pass into {@code dx}, its temporaries made with {@code Nd4j.*} in the current (borrowed) workspace. */
    private Pair<Gradient, INDArray> backprop(INDArray x, INDArray dy, INDArray gamma, INDArray dGammaView,
                                              INDArray dBetaView, double eps, INDArray dx) {
        x = contiguous(x);
        dy = contiguous(dy);
        long c = x.size(3);
        double count = (double) x.length() / c;
        INDArray invStd = Transforms.pow(varCache.add(eps), -0.5, false);
        INDArray xhat = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        Nd4j.exec(new BroadcastSubOp(x, meanCache, xhat, 3));
        xhat.reshape(-1, c).muliRowVector(invStd);
        INDArray meanDy = Nd4j.create(DataType.FLOAT, c);
        channelMean(dy, meanDy);
        INDArray dyXhat = Nd4j.createUninitialized(DataType.FLOAT, x.shape());
        Nd4j.exec(new MulOp(dy, xhat, dyXhat));
        INDArray meanDyXhat = Nd4j.create(DataType.FLOAT, c);
        channelMean(dyXhat, meanDyXhat);
        dBetaView.assign(meanDy.mul(count).reshape(dBetaView.shape()));
        dGammaView.assign(meanDyXhat.mul(count).reshape(dGammaView.shape()));

        INDArray dx2 = dx.reshape(-1, c);
        xhat.reshape(-1, c).muliRowVector(meanDyXhat);
        Nd4j.exec(new SubOp(dy, xhat, dx));
        dx2.subiRowVector(meanDy);
        dx2.muliRowVector(gamma.reshape(c).mul(invStd));

        Gradient g = new DefaultGradient();
        g.setGradientFor(BatchNormalizationParamInitializer.GAMMA, dGammaView);
        g.setGradientFor(BatchNormalizationParamInitializer.BETA, dBetaView);
        return new Pair<>(g, dx);
    }

    /** Per-channel mean of NHWC {@code x} into {@code out [C]}: average pooling over each map, then over the batch. */
    private static void channelMean(INDArray x, INDArray out) {
        long n = x.size(0);
        long c = x.size(3);
        INDArray pooled = Nd4j.createUninitialized(DataType.FLOAT, n, c); // in the current workspace
        NativeOps.spatialMean(x, pooled);
        pooled.mean(out, 0);
    }

    @Override
    public INDArray getMeanCache(DataType dataType) {
        return meanCache;
    }

    @Override
    public INDArray getVarCache(DataType dataType) {
        return varCache;
    }
}
