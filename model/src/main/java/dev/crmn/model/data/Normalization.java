package dev.crmn.model.data;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Arrays;

/**
 * Per-channel normalisation: {@code x = (pixel / 255 - mean[c]) / std[c]}. Computed from training data
 * and stored in the checkpoint manifest, so serving normalises exactly as training did.
 */
public record Normalization(@JsonProperty("mean") float[] mean, @JsonProperty("std") float[] std) {

    public Normalization {
        if (mean == null || std == null || mean.length != std.length || mean.length == 0) {
            throw new IllegalArgumentException("mean and std must be non-empty and of equal length");
        }
        for (float s : std) {
            if (!(s > 0)) {
                throw new IllegalArgumentException("std must be > 0, got " + Arrays.toString(std));
            }
        }
        mean = mean.clone();
        std = std.clone();
    }

    public int channels() {
        return mean.length;
    }

    /** Per-channel mean and (population) standard deviation of the pixels of {@code set}, in [0, 1] units. */
    public static Normalization compute(ImageSet set) {
        int c = set.channels();
        double[] sum = new double[c];
        double[] sq = new double[c];
        int per = set.height() * set.width() * c;
        for (int i = 0; i < set.size(); i++) {
            for (int k = 0; k < per; k++) {
                double v = set.pixel(i, k) / 255.0;
                sum[k % c] += v;
                sq[k % c] += v * v;
            }
        }
        double n = (double) set.size() * set.height() * set.width();
        float[] mean = new float[c];
        float[] std = new float[c];
        for (int k = 0; k < c; k++) {
            double m = sum[k] / n;
            mean[k] = (float) m;
            std[k] = (float) Math.sqrt(Math.max(sq[k] / n - m * m, 1e-12));
        }
        return new Normalization(mean, std);
    }

    /** The normalised value of an 8-bit pixel value in channel {@code c}. */
    public float apply(int value, int c) {
        return (value / 255f - mean[c]) / std[c];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Normalization n && Arrays.equals(mean, n.mean) && Arrays.equals(std, n.std);
    }

    @Override
    public int hashCode() {
        return 31 * Arrays.hashCode(mean) + Arrays.hashCode(std);
    }

    @Override
    public String toString() {
        return "Normalization{mean=" + Arrays.toString(mean) + ", std=" + Arrays.toString(std) + "}";
    }
}
