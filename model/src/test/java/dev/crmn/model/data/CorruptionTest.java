package dev.crmn.model.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CorruptionTest {

    /** A smooth gradient with some texture, like a photo (noise-free, mid-range values). */
    static PixelImage image() {
        byte[] p = new byte[32 * 32 * 3];
        SplittableRandom rng = new SplittableRandom(1);
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 32; x++) {
                for (int c = 0; c < 3; c++) {
                    p[(y * 32 + x) * 3 + c] = (byte) (60 + 3 * x + 2 * y + 20 * c + rng.nextInt(30));
                }
            }
        }
        return new PixelImage(32, 32, 3, p);
    }

    static double meanAbsDiff(PixelImage a, PixelImage b) {
        double d = 0;
        for (int i = 0; i < a.pixels().length; i++) {
            d += Math.abs((a.pixels()[i] & 0xff) - (b.pixels()[i] & 0xff));
        }
        return d / a.pixels().length;
    }

    @Test
    void namesParseWithADefaultSeverityAndBadOnesAreRefusedInOneLine() {
        assertThat(Corruption.parse("gaussian-noise")).isEqualTo(new Corruption(Corruption.Kind.GAUSSIAN_NOISE, 3));
        assertThat(Corruption.parse("Blur:5")).isEqualTo(new Corruption(Corruption.Kind.BLUR, 5));
        assertThat(Corruption.parse("colour-tint:1").kind()).isEqualTo(Corruption.Kind.TINT);
        assertThat(Corruption.parse("jpeg-quality:2").kind()).isEqualTo(Corruption.Kind.JPEG);
        assertThat(Corruption.parse("noise").toString()).isEqualTo("gaussian-noise:3");
        assertThatThrownBy(() -> Corruption.parse("fog")).hasMessage("--corrupt fog: unknown corruption 'fog' (one of"
                + " brightness, contrast, gaussian-noise, blur, tint, jpeg)");
        assertThatThrownBy(() -> Corruption.parse("blur:6")).hasMessage("--corrupt blur:6: the severity must be 1 to 5");
        assertThatThrownBy(() -> Corruption.parse("blur:x")).hasMessage("--corrupt blur:x: the severity must be 1 to 5");
        assertThatThrownBy(() -> Corruption.parse("contrast:3,blur:2")).hasMessage("--corrupt contrast:3,blur:2: one"
                + " corruption, NAME[:SEVERITY] (one of brightness, contrast, gaussian-noise, blur, tint, jpeg; severity 1 to 5)");
    }

    @Test
    void everyCorruptionKeepsTheShapeChangesTheImageMoreWithSeverityAndIsReproducible() {
        PixelImage img = image();
        for (Corruption.Kind k : Corruption.Kind.values()) {
            double previous = 0;
            for (int s = 1; s <= 5; s++) {
                Corruption c = new Corruption(k, s);
                PixelImage out = c.apply(img, 7, 42);
                assertThat(out.height()).isEqualTo(32);
                assertThat(out.channels()).isEqualTo(3);
                assertThat(out.pixels()).as("%s reproducible", c).isEqualTo(c.apply(img, 7, 42).pixels());
                double d = meanAbsDiff(img, out);
                assertThat(d).as("%s changes the image", c).isGreaterThan(0.3);
                assertThat(d).as("%s at least as strong as severity %d", c, s - 1).isGreaterThanOrEqualTo(previous * 0.9);
                previous = d;
            }
        }
    }

    @Test
    void noiseDiffersPerImageAndPerSeedAndBrightnessIsExact() {
        PixelImage img = image();
        Corruption noise = Corruption.parse("gaussian-noise:3");
        assertThat(noise.apply(img, 1, 42).pixels()).isNotEqualTo(noise.apply(img, 2, 42).pixels());
        assertThat(noise.apply(img, 1, 42).pixels()).isNotEqualTo(noise.apply(img, 1, 43).pixels());
        PixelImage bright = Corruption.parse("brightness:1").apply(img, 0, 0);
        assertThat(bright.value(0, 0, 0)).isEqualTo(Math.min(255, img.value(0, 0, 0) + 26)); // 0.1 * 255 = 25.5 -> 26
        PixelImage tint = Corruption.parse("tint:5").apply(img, 0, 0);
        assertThat(tint.value(3, 3, 2)).isEqualTo((int) Math.round(img.value(3, 3, 2) * 0.5));
        assertThat(tint.value(3, 3, 1)).isEqualTo(img.value(3, 3, 1));
    }
}
