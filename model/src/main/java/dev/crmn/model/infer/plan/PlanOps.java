package dev.crmn.model.infer.plan;

/**
 * The operations a {@link ServingPlan} is executed with: one implementation per engine (the CUDA engine's cuDNN
 * and cuBLAS calls; a plain-Java reference in the tests). Tensors are dense, row-major ("NCHW") float buffers of
 * the engine's own kind {@code T}; the plan asks for each by role and shape and never frees one (the engine owns
 * them, and may keep them for the next call).
 *
 * @param <T> the engine's tensor handle
 */
public interface PlanOps<T> {

    /**
     * A buffer {@code [d0, d1, d2, d3]} for {@code role}: the same one each time the same role and shape are asked
     * for. Its contents on return are unspecified, except for {@link ServingPlan#PADDED} buffers, whose elements
     * outside what {@link #pad} writes are zero.
     */
    T tensor(String role, int d0, int d1, int d2, int d3);

    /** The input tensor {@code [n, channels, height, width]}, holding the (normalised) images of this call. */
    T input();

    /**
     * Step {@code t} of a time-major sequence {@code [steps, n, features, 1]}: a tensor {@code [n, features, 1, 1]}
     * over the same memory.
     */
    T step(T sequence, int t);

    /**
     * Copies {@code x [n, c, h, w]} into the interior of {@code padded [n, c, h + top + bottom, w + left + right]}
     * at row {@code top} and column {@code left} (the border stays zero).
     */
    void pad(T x, ServingPlan.ConvSpec conv, T padded);

    /**
     * {@code y = relu?(conv(x) + bias)}, or with {@code accumulate} {@code y += conv(x)} (no bias, no ReLU):
     * cross-correlation with {@code conv}'s symmetric padding ({@link ServingPlan.ConvSpec#pad}) and stride.
     */
    void conv(T x, ServingPlan.ConvSpec conv, T y, boolean relu, boolean accumulate);

    /** {@code y = relu(x * scale + shift)} per channel (dimension 1). */
    void affineRelu(T x, ServingPlan.AffineSpec affine, T y);

    /** {@code out [n, c, 1, 1]} = the mean of {@code x [n, c, h, w]} over {@code h, w}. */
    void spatialMean(T x, T out);

    /** {@code out [n, m] (+)= a [n, k] × matrix [k, m]}: with {@code accumulate}, added to what {@code out} holds. */
    void gemm(T a, ServingPlan.MatrixSpec matrix, T out, boolean accumulate);

    /** {@code x = max(x, 0)} in place. */
    void relu(T x);

    /**
     * The LSTM's last hidden state {@code h [n, hidden, 1, 1]} over the time-major sequence
     * {@code [steps, n, inputSize, 1]}, zero initial state (cuDNN's LSTM: {@link ServingPlan.LstmSpec}).
     */
    void lstm(T sequence, ServingPlan.LstmSpec lstm, T h);

    /** {@code x [n, m, 1, 1] += bias} per column. */
    void addBias(T x, float[] bias);

    /** {@code y [n, m, 1, 1] = softmax(x)} per row. */
    void softmax(T x, T y);
}
