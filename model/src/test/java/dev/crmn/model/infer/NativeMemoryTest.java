package dev.crmn.model.infer;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assumptions.assumeThat;

import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.perf.NativeMemory;
import dev.crmn.model.testutil.TestData;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * Loading, running and closing a model many times in one JVM (as hot-swaps in a long-running job do) keeps
 * ND4J's native memory flat: every array a classifier allocates is freed by its close, not left to the
 * garbage collector. Measured with libnd4j's own counter of array buffers, which does not depend on GC timing.
 */
class NativeMemoryTest {

    static final Path SHIPPED = Path.of("../models/crmn-demo");
    static final int LOADS = 300;

    @Test
    void loadRunCloseSeveralHundredTimesKeepsNativeMemoryFlat() throws Exception {
        assumeThat(NativeMemory.ndArrayBytes()).as("libnd4j counts host memory (CPU backend)").isGreaterThanOrEqualTo(0);
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 64);
        List<PixelImage> images = new ArrayList<>();
        for (int i = 0; i < set.size(); i++) {
            images.add(set.image(i));
        }
        cycle(images); // first use: ND4J's own one-time allocations
        long baseline = NativeMemory.ndArrayBytes();
        long rssStart = NativeMemory.residentBytes();
        int threadsStart = Thread.activeCount();
        long worst = 0;
        for (int i = 0; i < LOADS; i++) {
            cycle(images);
            worst = Math.max(worst, NativeMemory.ndArrayBytes() - baseline);
        }
        System.out.printf("NativeMemoryTest: %d load/run/close cycles: ND4J arrays %+d bytes at worst after a close"
                        + " (baseline %d); resident set %.0f -> %.0f MB; threads %d -> %d%n", LOADS, worst, baseline,
                rssStart / 1e6, NativeMemory.residentBytes() / 1e6, threadsStart, Thread.activeCount());
        assertThat(worst).as("ND4J array bytes left after a closed classifier").isLessThan(64 * 1024);
        assertThat(Thread.activeCount()).as("threads").isLessThanOrEqualTo(threadsStart + 2);
    }

    /** One hot-swap's worth of work: load and verify, run a full and an odd-sized batch, close. */
    private static void cycle(List<PixelImage> images) throws Exception {
        try (Classifier c = Classifier.load(SHIPPED)) {
            assertThat(c.probabilities(images)).hasNumberOfRows(images.size());
            assertThat(c.probabilities(images.subList(0, 5))).hasNumberOfRows(5);
        }
    }
}
