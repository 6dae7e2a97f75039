package dev.crmn.model.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.Arrays;
import java.util.Locale;
import java.util.SplittableRandom;
import java.util.stream.Collectors;

/**
 * A camera drift applied to an image, to make a drifted stream from any data ({@code crmn produce --corrupt
 * NAME[:SEVERITY]}): brightness, contrast, Gaussian noise, blur, a colour tint, JPEG compression. Severity 1 (mild)
 * to 5 (strong), default 3; the strengths follow CIFAR-10-C (Hendrycks &amp; Dietterich 2019) where it has the same
 * corruption. Deterministic: the same image, index and seed give the same pixels.
 *
 * @param kind     what changes
 * @param severity 1..5
 */
public record Corruption(Kind kind, int severity) {

    /** The corruptions, by the names the command line takes. */
    public enum Kind {
        /** Every channel raised by a share of full scale: 0.1 .. 0.5 (an over-exposed or dusk-boosted camera). */
        BRIGHTNESS("brightness", 0.1, 0.2, 0.3, 0.4, 0.5),
        /** Distances from the image's mean scaled by 0.4 .. 0.05 (glare, haze). */
        CONTRAST("contrast", 0.4, 0.3, 0.2, 0.1, 0.05),
        /** Independent Gaussian noise per value, sigma 0.04 .. 0.10 of full scale (a noisy sensor). */
        GAUSSIAN_NOISE("gaussian-noise", 0.04, 0.06, 0.08, 0.09, 0.10),
        /** Gaussian blur, sigma 0.4 .. 1.0 pixels (a soft lens, out of focus). */
        BLUR("blur", 0.4, 0.6, 0.7, 0.8, 1.0),
        /** A warm colour cast: red raised and blue lowered by 0.1 .. 0.5 of their value (white balance off). */
        TINT("tint", 0.1, 0.2, 0.3, 0.4, 0.5),
        /** JPEG compression at quality 80 .. 40 (a bandwidth-starved camera). */
        JPEG("jpeg", 80, 65, 58, 50, 40);

        private final String cliName;
        private final double[] strength;

        Kind(String cliName, double... strength) {
            this.cliName = cliName;
            this.strength = strength;
        }

        /** The name {@code --corrupt} takes. */
        public String cliName() {
            return cliName;
        }

        /** The parameter of severity {@code s} (1..5). */
        public double strength(int s) {
            return strength[s - 1];
        }
    }

    public Corruption {
        if (kind == null || severity < 1 || severity > 5) {
            throw new IllegalArgumentException("a corruption needs a kind and a severity of 1 to 5");
        }
    }

    /** The names {@link #parse} accepts, for messages. */
    public static String names() {
        return Arrays.stream(Kind.values()).map(Kind::cliName).collect(Collectors.joining(", "));
    }

    /**
     * Parses {@code NAME[:SEVERITY]}: a {@link Kind#cliName()} (also {@code noise}, {@code colour-tint},
     * {@code color-tint}, {@code jpeg-quality}), severity 1..5, default 3.
     */
    public static Corruption parse(String spec) {
        String s = spec.trim().toLowerCase(Locale.ROOT);
        if (s.contains(",")) {
            throw new IllegalArgumentException("--corrupt " + spec + ": one corruption, NAME[:SEVERITY] (one of "
                    + names() + "; severity 1 to 5)");
        }
        int colon = s.indexOf(':');
        String name = colon < 0 ? s : s.substring(0, colon);
        int severity = 3;
        if (colon >= 0) {
            try {
                severity = Integer.parseInt(s.substring(colon + 1));
            } catch (NumberFormatException e) {
                severity = -1;
            }
            if (severity < 1 || severity > 5) {
                throw new IllegalArgumentException("--corrupt " + spec + ": the severity must be 1 to 5");
            }
        }
        Kind kind = switch (name) {
            case "brightness" -> Kind.BRIGHTNESS;
            case "contrast" -> Kind.CONTRAST;
            case "gaussian-noise", "noise", "gaussian_noise" -> Kind.GAUSSIAN_NOISE;
            case "blur", "gaussian-blur" -> Kind.BLUR;
            case "tint", "colour-tint", "color-tint" -> Kind.TINT;
            case "jpeg", "jpeg-quality" -> Kind.JPEG;
            default -> throw new IllegalArgumentException("--corrupt " + spec + ": unknown corruption '" + name
                    + "' (one of " + names() + ")");
        };
        return new Corruption(kind, severity);
    }

    /** "gaussian-noise:3". */
    @Override
    public String toString() {
        return kind.cliName() + ":" + severity;
    }

    /**
     * The corrupted copy of {@code img}; {@code index} (the image's place in the stream) and {@code seed} make the
     * noise of each image its own and reproducible.
     */
    public PixelImage apply(PixelImage img, long index, long seed) {
        double a = kind.strength(severity);
        byte[] p = img.pixels();
        byte[] out = new byte[p.length];
        int c = img.channels();
        switch (kind) {
            case BRIGHTNESS -> {
                for (int i = 0; i < p.length; i++) {
                    out[i] = clip((p[i] & 0xff) + a * 255);
                }
            }
            case CONTRAST -> {
                double[] mean = new double[c];
                for (int i = 0; i < p.length; i++) {
                    mean[i % c] += p[i] & 0xff;
                }
                for (int k = 0; k < c; k++) {
                    mean[k] /= p.length / c;
                }
                for (int i = 0; i < p.length; i++) {
                    out[i] = clip(((p[i] & 0xff) - mean[i % c]) * a + mean[i % c]);
                }
            }
            case GAUSSIAN_NOISE -> {
                SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + index);
                for (int i = 0; i < p.length; i++) {
                    out[i] = clip((p[i] & 0xff) + gaussian(rng) * a * 255);
                }
            }
            case BLUR -> out = blur(img, a);
            case TINT -> {
                for (int i = 0; i < p.length; i++) {
                    int ch = c == 3 ? i % 3 : 1;
                    double f = ch == 0 ? 1 + a : ch == 2 ? 1 - a : 1;
                    out[i] = clip((p[i] & 0xff) * f);
                }
            }
            case JPEG -> {
                return jpeg(img, (int) a);
            }
            default -> throw new IllegalStateException();
        }
        return new PixelImage(img.height(), img.width(), c, out);
    }

    /** {@code set} with every image corrupted (image {@code i} as {@code apply(image, i, seed)}), labels kept. */
    public ImageSet apply(ImageSet set, long seed) {
        java.util.List<LabelledImage> out = new java.util.ArrayList<>(set.size());
        for (int i = 0; i < set.size(); i++) {
            out.add(new LabelledImage(apply(set.image(i), i, seed), set.label(i)));
        }
        return ImageSet.of(out, set.classNames(), set.height(), set.width(), set.channels(),
                set.description() + ", " + this + " (seed " + seed + ")");
    }

    private static byte clip(double v) {
        return (byte) Math.max(0, Math.min(255, Math.round(v)));
    }

    private static double gaussian(SplittableRandom rng) { // Box-Muller: SplittableRandom has no nextGaussian
        double u = 1 - rng.nextDouble();
        double v = rng.nextDouble();
        return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    }

    /** A separable Gaussian blur, edges clamped. */
    private static byte[] blur(PixelImage img, double sigma) {
        int r = (int) Math.ceil(3 * sigma);
        double[] k = new double[2 * r + 1];
        double sum = 0;
        for (int i = -r; i <= r; i++) {
            k[i + r] = Math.exp(-i * i / (2 * sigma * sigma));
            sum += k[i + r];
        }
        for (int i = 0; i < k.length; i++) {
            k[i] /= sum;
        }
        int h = img.height(), w = img.width(), c = img.channels();
        byte[] p = img.pixels();
        double[] tmp = new double[p.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int ch = 0; ch < c; ch++) {
                    double v = 0;
                    for (int i = -r; i <= r; i++) {
                        int xx = Math.max(0, Math.min(w - 1, x + i));
                        v += k[i + r] * (p[(y * w + xx) * c + ch] & 0xff);
                    }
                    tmp[(y * w + x) * c + ch] = v;
                }
            }
        }
        byte[] out = new byte[p.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                for (int ch = 0; ch < c; ch++) {
                    double v = 0;
                    for (int i = -r; i <= r; i++) {
                        int yy = Math.max(0, Math.min(h - 1, y + i));
                        v += k[i + r] * tmp[(yy * w + x) * c + ch];
                    }
                    out[(y * w + x) * c + ch] = clip(v);
                }
            }
        }
        return out;
    }

    /** Through a JPEG encoder at {@code quality} (0..100) and back. */
    private static PixelImage jpeg(PixelImage img, int quality) {
        try {
            java.awt.image.BufferedImage bi = img.toBufferedImage();
            javax.imageio.ImageWriter writer = javax.imageio.ImageIO.getImageWritersByFormatName("jpeg").next();
            java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
            try (javax.imageio.stream.ImageOutputStream out = new javax.imageio.stream.MemoryCacheImageOutputStream(bytes)) {
                writer.setOutput(out);
                javax.imageio.ImageWriteParam param = writer.getDefaultWriteParam();
                param.setCompressionMode(javax.imageio.ImageWriteParam.MODE_EXPLICIT);
                param.setCompressionQuality(quality / 100f);
                writer.write(null, new javax.imageio.IIOImage(bi, null, null), param);
            } finally {
                writer.dispose();
            }
            PixelImage back = ImageBytes.decode(bytes.toByteArray(), Long.MAX_VALUE);
            return img.channels() == 1 ? back.toGray() : back.toRgb();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
