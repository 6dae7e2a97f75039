package dev.crmn.model.infer.plan;

import dev.crmn.model.infer.ServingWeights;
import java.util.HashMap;
import java.util.Map;

/**
 * {@link PlanOps} in plain Java loops, with cuDNN's semantics (symmetric padding, cross-correlation, the LSTM's
 * per-gate {@code W · x} matrices): what the CUDA engine's calls compute, on the CPU, so that a plan's layouts are
 * checked without a GPU (the tests) and the GPU engine can be checked where DL4J is not at hand (the GPU check).
 * Slow (double-precision loops): for a few small images.
 */
public final class ReferenceOps implements PlanOps<ReferenceOps.Tensor> {

    /** A dense row-major view {@code [d0, d1, d2, d3]} of {@code data} from {@code offset}. */
    public record Tensor(float[] data, int offset, int d0, int d1, int d2, int d3) {
        int size() {
            return d0 * d1 * d2 * d3;
        }

        float get(int i) {
            return data[offset + i];
        }

        void set(int i, float v) {
            data[offset + i] = v;
        }
    }

    private final Map<String, Tensor> tensors = new HashMap<>();
    private final Tensor input;

    /** {@code nhwc}: {@code n} normalised images, channels last, as the serving engines take them. */
    public ReferenceOps(float[] nhwc, int n, int h, int w, int c) {
        float[] nchw = new float[nhwc.length];
        for (int i = 0; i < n; i++) {
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    for (int k = 0; k < c; k++) {
                        nchw[((i * c + k) * h + y) * w + x] = nhwc[((i * h + y) * w + x) * c + k];
                    }
                }
            }
        }
        input = new Tensor(nchw, 0, n, c, h, w);
    }

    /** The probabilities {@code [n][classes]} the plan of {@code sw} gives for {@code n} normalised NHWC images. */
    public static float[][] probabilities(ServingWeights sw, float[] nhwc, int n) {
        ReferenceOps ops = new ReferenceOps(nhwc, n, sw.config().height(), sw.config().width(), sw.config().channels());
        return rows(ServingPlan.of(sw).forward(ops, n));
    }

    @Override
    public Tensor tensor(String role, int d0, int d1, int d2, int d3) {
        return tensors.computeIfAbsent(role + ":" + d0 + "x" + d1 + "x" + d2 + "x" + d3,
                k -> new Tensor(new float[d0 * d1 * d2 * d3], 0, d0, d1, d2, d3));
    }

    @Override
    public Tensor input() {
        return input;
    }

    @Override
    public Tensor step(Tensor sequence, int t) {
        return new Tensor(sequence.data(), sequence.offset() + t * sequence.d1() * sequence.d2(), sequence.d1(),
                sequence.d2(), 1, 1);
    }

    @Override
    public void pad(Tensor x, ServingPlan.ConvSpec conv, Tensor padded) {
        for (int i = 0; i < x.d0() * x.d1(); i++) {
            for (int y = 0; y < x.d2(); y++) {
                for (int z = 0; z < x.d3(); z++) {
                    padded.set((i * padded.d2() + y + conv.padTop()) * padded.d3() + z + conv.padLeft(),
                            x.get((i * x.d2() + y) * x.d3() + z));
                }
            }
        }
    }

    @Override
    public void conv(Tensor x, ServingPlan.ConvSpec c, Tensor y, boolean relu, boolean accumulate) {
        int k = c.kernel();
        int pad = c.pad();
        for (int n = 0; n < y.d0(); n++) {
            for (int o = 0; o < y.d1(); o++) {
                for (int oy = 0; oy < y.d2(); oy++) {
                    for (int ox = 0; ox < y.d3(); ox++) {
                        double s = 0;
                        for (int i = 0; i < c.in(); i++) {
                            for (int ky = 0; ky < k; ky++) {
                                int iy = oy * c.stride() - pad + ky;
                                if (iy < 0 || iy >= x.d2()) {
                                    continue;
                                }
                                for (int kx = 0; kx < k; kx++) {
                                    int ix = ox * c.stride() - pad + kx;
                                    if (ix >= 0 && ix < x.d3()) {
                                        s += c.weights()[((o * c.in() + i) * k + ky) * k + kx]
                                                * x.get(((n * x.d1() + i) * x.d2() + iy) * x.d3() + ix);
                                    }
                                }
                            }
                        }
                        int at = ((n * y.d1() + o) * y.d2() + oy) * y.d3() + ox;
                        if (accumulate) {
                            y.set(at, (float) (y.get(at) + s));
                        } else {
                            s += c.bias() == null ? 0 : c.bias()[o];
                            y.set(at, (float) (relu ? Math.max(s, 0) : s));
                        }
                    }
                }
            }
        }
    }

    @Override
    public void affineRelu(Tensor x, ServingPlan.AffineSpec a, Tensor y) {
        int plane = x.d2() * x.d3();
        for (int i = 0; i < x.size(); i++) {
            int c = i / plane % x.d1();
            y.set(i, Math.max(x.get(i) * a.scale()[c] + a.shift()[c], 0));
        }
    }

    @Override
    public void spatialMean(Tensor x, Tensor out) {
        int plane = x.d2() * x.d3();
        for (int r = 0; r < x.d0() * x.d1(); r++) {
            double s = 0;
            for (int i = 0; i < plane; i++) {
                s += x.get(r * plane + i);
            }
            out.set(r, (float) (s / plane));
        }
    }

    @Override
    public void gemm(Tensor a, ServingPlan.MatrixSpec m, Tensor out, boolean accumulate) {
        int rows = a.d0();
        int k = m.rows();
        for (int r = 0; r < rows; r++) {
            for (int j = 0; j < m.cols(); j++) {
                double s = accumulate ? out.get(r * m.cols() + j) : 0;
                for (int i = 0; i < k; i++) {
                    s += a.get(r * k + i) * m.values()[i * m.cols() + j];
                }
                out.set(r * m.cols() + j, (float) s);
            }
        }
    }

    @Override
    public void relu(Tensor x) {
        for (int i = 0; i < x.size(); i++) {
            x.set(i, Math.max(x.get(i), 0));
        }
    }

    @Override
    public void lstm(Tensor sequence, ServingPlan.LstmSpec l, Tensor out) {
        int steps = sequence.d0();
        int n = sequence.d1();
        int in = l.inputSize();
        int hs = l.hidden();
        for (int b = 0; b < n; b++) {
            double[] h = new double[hs];
            double[] c = new double[hs];
            for (int t = 0; t < steps; t++) {
                int base = (t * n + b) * in;
                double[][] gate = new double[4][hs];
                for (int g = 0; g < 4; g++) {
                    for (int j = 0; j < hs; j++) {
                        double s = l.bias()[g][j];
                        for (int i = 0; i < in; i++) {
                            s += l.input()[g][j * in + i] * sequence.get(base + i);
                        }
                        for (int i = 0; i < hs; i++) {
                            s += l.recurrent()[g][j * hs + i] * h[i];
                        }
                        gate[g][j] = s;
                    }
                }
                for (int j = 0; j < hs; j++) {
                    double ig = sigmoid(gate[0][j]);
                    double fg = sigmoid(gate[1][j]);
                    double cg = Math.tanh(gate[2][j]);
                    double og = sigmoid(gate[3][j]);
                    c[j] = fg * c[j] + ig * cg;
                    h[j] = og * Math.tanh(c[j]);
                }
            }
            for (int j = 0; j < hs; j++) {
                out.set(b * hs + j, (float) h[j]);
            }
        }
    }

    private static double sigmoid(double v) {
        return 1 / (1 + Math.exp(-v));
    }

    @Override
    public void addBias(Tensor x, float[] bias) {
        for (int i = 0; i < x.size(); i++) {
            x.set(i, x.get(i) + bias[i % bias.length]);
        }
    }

    @Override
    public void softmax(Tensor x, Tensor y) {
        int m = x.d1();
        for (int r = 0; r < x.d0(); r++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < m; j++) {
                max = Math.max(max, x.get(r * m + j));
            }
            double sum = 0;
            for (int j = 0; j < m; j++) {
                sum += Math.exp(x.get(r * m + j) - max);
            }
            for (int j = 0; j < m; j++) {
                y.set(r * m + j, (float) (Math.exp(x.get(r * m + j) - max) / sum));
            }
        }
    }

    /** The rows of {@code t [rows, m, 1, 1]} as Java arrays. */
    public static float[][] rows(Tensor t) {
        float[][] out = new float[t.d0()][t.d1()];
        for (int r = 0; r < t.d0(); r++) {
            for (int j = 0; j < t.d1(); j++) {
                out[r][j] = t.get(r * t.d1() + j);
            }
        }
        return out;
    }
}
