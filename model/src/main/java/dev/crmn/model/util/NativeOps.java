package dev.crmn.model.util;

import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.api.ops.DynamicCustomOp;
import org.nd4j.linalg.factory.Nd4j;

/** ND4J native operations the serving network and the training fast path share. */
public final class NativeOps {

    private NativeOps() {
    }

    /**
     * Spatial mean of channels-last {@code x [n, h, w, c]} into {@code out [n, c]} (c-order, contiguous):
     * average pooling over the whole map, which runs on oneDNN and is several times faster than ND4J's mean
     * over the {@code [h, w]} axes, whose reduction strides over the channels (docs/benchmarks.md).
     */
    public static void spatialMean(INDArray x, INDArray out) {
        Nd4j.exec(DynamicCustomOp.builder("avgpool2d").addInputs(x)
                .addOutputs(out.reshape(out.size(0), 1, 1, out.size(1)))
                // kernel = the map, stride 1, no padding, dilation 1, VALID, divisor mode, NHWC
                .addIntegerArguments((int) x.size(1), (int) x.size(2), 1, 1, 0, 0, 1, 1, 0, 0, 1)
                .build());
    }
}
