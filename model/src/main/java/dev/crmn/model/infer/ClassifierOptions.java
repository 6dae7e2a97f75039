package dev.crmn.model.infer;

import org.deeplearning4j.nn.conf.CNN2DFormat;

/**
 * How a {@link Classifier} materialises its network.
 *
 * @param layout        NHWC (fast path, default) or NCHW
 * @param foldBatchNorm fold batch normalisations into convolutions (fast path, default)
 */
public record ClassifierOptions(CNN2DFormat layout, boolean foldBatchNorm) {

    /** The fast path: NHWC with batch norm folded. */
    public static ClassifierOptions fast() {
        return new ClassifierOptions(CNN2DFormat.NHWC, true);
    }

    /** DL4J's default path: NCHW, batch norm as trained. */
    public static ClassifierOptions plain() {
        return new ClassifierOptions(CNN2DFormat.NCHW, false);
    }

    /** {@link #fast()}, unless the fast path is switched off ({@code CRMN_FAST_PATH=off}). */
    public static ClassifierOptions defaults() {
        return dev.crmn.model.perf.CpuFastPath.disabledByUser() ? plain() : fast();
    }
}
