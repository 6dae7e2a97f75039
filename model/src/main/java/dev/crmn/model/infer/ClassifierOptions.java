package dev.crmn.model.infer;

import org.deeplearning4j.nn.conf.CNN2DFormat;

/**
 * How a {@link Classifier} runs its network.
 *
 * @param serving the fast path: a {@link dev.crmn.model.infer.ServingNetwork} (native ND4J operations, NHWC,
 *                batch norm folded); otherwise DL4J's plain path ({@code ComputationGraph.output()}, NCHW)
 */
public record ClassifierOptions(boolean serving) {

    /** The fast path. */
    public static ClassifierOptions fast() {
        return new ClassifierOptions(true);
    }

    /** DL4J's default path: the trained graph in NCHW, batch norm as trained. */
    public static ClassifierOptions plain() {
        return new ClassifierOptions(false);
    }

    /** {@link #fast()}, unless the fast path is switched off ({@code CRMN_FAST_PATH=off}). */
    public static ClassifierOptions defaults() {
        return dev.crmn.model.perf.CpuFastPath.disabledByUser() ? plain() : fast();
    }

    /** The input layout of this path. */
    public CNN2DFormat layout() {
        return serving ? CNN2DFormat.NHWC : CNN2DFormat.NCHW;
    }
}
