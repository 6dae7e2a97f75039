package dev.crmn.model.testutil;

import dev.crmn.model.data.Cifar10Dir;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.data.PixelImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import org.junit.jupiter.api.Assumptions;

/**
 * The tests' CIFAR-10 data. Every test reads the sample shipped in the repository ({@code data/cifar10-sample}), so
 * the suite runs the same on a fresh clone with nothing beside it as on a machine with the full set. A test that
 * needs the full set (all 10,000 test images, say) asks {@link #full()}, which skips the test with a reason when no
 * full copy is found ({@code $CRMN_CIFAR10_DIR}, the fetched {@code data/cifar10}, {@code ../shared/datasets/cifar10}).
 */
public final class TestData {

    private TestData() {
    }

    /** The shipped sample: test_batch.bin (1,000), data_batch_1.bin (400), data_batch_3/4.bin (750 each). */
    public static Path cifar10() {
        Path dir = Cifar10Dir.sampleDir(Cifar10Dir.home());
        if (!Files.isRegularFile(dir.resolve("test_batch.bin"))) {
            throw new IllegalStateException("the CIFAR-10 sample is missing from the repository: " + dir);
        }
        return dir;
    }

    public static Path testBatch() {
        return cifar10().resolve("test_batch.bin");
    }

    public static Path trainBatch1() {
        return cifar10().resolve("data_batch_1.bin");
    }

    /**
     * {@code n} labelled images the shipped models never saw: the sample's data_batch_3/4 (1,500 images), then the
     * same images mirrored left-right, then shifted by two pixels, each copy a distinct frame; for tests that stream
     * more frames than the sample holds.
     */
    public static ImageSet labelledStream(int n) throws IOException {
        ImageSet base = ImageSet.load(List.of(cifar10().resolve("data_batch_3.bin"), cifar10().resolve("data_batch_4.bin")), 0);
        List<LabelledImage> out = new ArrayList<>(n);
        for (int i = 0; i < n; i++) {
            int k = i % base.size();
            PixelImage img = base.image(k);
            int variant = (i / base.size()) % 3;
            out.add(new LabelledImage(variant == 0 ? img : variant == 1 ? mirrored(img) : shifted(img, 2), base.label(k)));
        }
        return ImageSet.of(out, base.classNames(), base.height(), base.width(), base.channels(),
                "sample data_batch_3/4 with mirrored and shifted copies (" + n + ")");
    }

    private static PixelImage mirrored(PixelImage img) {
        byte[] p = new byte[img.pixels().length];
        int c = img.channels();
        for (int y = 0; y < img.height(); y++) {
            for (int x = 0; x < img.width(); x++) {
                System.arraycopy(img.pixels(), (y * img.width() + x) * c, p, (y * img.width() + img.width() - 1 - x) * c, c);
            }
        }
        return new PixelImage(img.height(), img.width(), c, p);
    }

    private static PixelImage shifted(PixelImage img, int dx) {
        byte[] p = new byte[img.pixels().length];
        int c = img.channels();
        for (int y = 0; y < img.height(); y++) {
            for (int x = 0; x < img.width(); x++) {
                int sx = Math.min(img.width() - 1, Math.max(0, x - dx));
                System.arraycopy(img.pixels(), (y * img.width() + sx) * c, p, (y * img.width() + x) * c, c);
            }
        }
        return new PixelImage(img.height(), img.width(), c, p);
    }

    /** The full CIFAR-10 set; skips the calling test when there is none. */
    public static Path full() {
        Optional<Cifar10Dir> d;
        try {
            d = Cifar10Dir.full(null);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
        Assumptions.assumeTrue(d.isPresent(), "needs the full CIFAR-10 set (./crmn data fetch cifar10, $CRMN_CIFAR10_DIR"
                + " or ../shared/datasets/cifar10); only the shipped sample is here");
        return d.get().dir();
    }
}
