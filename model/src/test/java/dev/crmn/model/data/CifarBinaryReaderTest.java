package dev.crmn.model.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.testutil.TestData;
import java.io.ByteArrayInputStream;
import java.io.RandomAccessFile;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;

class CifarBinaryReaderTest {

    /** Raw bytes of record {@code i}, read independently of the reader. */
    private static byte[] rawRecord(Path file, int i) throws Exception {
        byte[] rec = new byte[3073];
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "r")) {
            f.seek((long) i * 3073);
            f.readFully(rec);
        }
        return rec;
    }

    @Test
    void knownRecordsOfTestBatchHaveTheirLabelAndPlanarPixelLayout() throws Exception {
        Path file = TestData.testBatch();
        int records = (int) (java.nio.file.Files.size(file) / 3073);
        java.util.Set<Integer> known = java.util.Set.of(0, 1, 2, records / 2, records - 1);
        try (CifarBinaryReader r = CifarBinaryReader.open(file, CifarBinaryReader.CifarFormat.CIFAR10)) {
            for (int i = 0; r.hasNext(); i++) {
                LabelledImage li = r.next();
                if (!known.contains(i)) {
                    continue;
                }
                byte[] raw = rawRecord(file, i);
                assertThat(li.label()).as("label of record %d", i).isEqualTo(raw[0]);
                PixelImage img = li.image();
                assertThat(img.height()).isEqualTo(32);
                assertThat(img.width()).isEqualTo(32);
                assertThat(img.channels()).isEqualTo(3);
                for (int[] yx : new int[][]{{0, 0}, {0, 31}, {31, 0}, {13, 17}, {31, 31}}) {
                    for (int c = 0; c < 3; c++) {
                        int expected = raw[1 + c * 1024 + yx[0] * 32 + yx[1]] & 0xFF;
                        assertThat(img.value(yx[0], yx[1], c)).as("record %d pixel %d,%d channel %d", i, yx[0], yx[1], c)
                                .isEqualTo(expected);
                    }
                }
            }
        }
    }

    @Test
    void decodedImagesAreSpatiallySmoothAsNaturalImagesAre() throws Exception {
        // Reading the planes as interleaved RGB (a classic bug) turns neighbouring pixels into unrelated
        // values; correctly decoded photos have small differences between horizontal neighbours.
        try (CifarBinaryReader r = CifarBinaryReader.open(TestData.testBatch(), CifarBinaryReader.CifarFormat.CIFAR10)) {
            double diff = 0;
            int n = 0;
            for (int i = 0; i < 100; i++) {
                PixelImage img = r.next().image();
                for (int y = 0; y < 32; y++) {
                    for (int x = 1; x < 32; x++) {
                        for (int c = 0; c < 3; c++) {
                            diff += Math.abs(img.value(y, x, c) - img.value(y, x - 1, c));
                            n++;
                        }
                    }
                }
            }
            assertThat(diff / n).isLessThan(20.0);
        }
    }

    @Test
    void readsAllTenThousandRecordsAndClassNames() throws Exception {
        Path file = TestData.full().resolve("test_batch.bin");
        assertThat(CifarBinaryReader.detect(file)).isEqualTo(CifarBinaryReader.CifarFormat.CIFAR10);
        assertThat(CifarBinaryReader.classNames(file, CifarBinaryReader.CifarFormat.CIFAR10))
                .isEqualTo(CifarBinaryReader.CIFAR10_LABELS);
        int[] counts = new int[10];
        int n = 0;
        try (CifarBinaryReader r = CifarBinaryReader.open(file, CifarBinaryReader.CifarFormat.CIFAR10)) {
            while (r.hasNext()) {
                counts[r.next().label()]++;
                n++;
            }
        }
        assertThat(n).isEqualTo(10000);
        assertThat(counts).containsOnly(1000); // the test set is balanced
    }

    @Test
    void cifar100RecordsUseTheFineLabel() {
        byte[] rec = new byte[3074];
        rec[0] = 7;   // coarse
        rec[1] = 42;  // fine
        rec[2] = (byte) 200; // red of pixel 0
        rec[2 + 1024] = 100; // green of pixel 0
        rec[2 + 2048] = 50;  // blue of pixel 0
        CifarBinaryReader r = CifarBinaryReader.of(new ByteArrayInputStream(rec), CifarBinaryReader.CifarFormat.CIFAR100);
        LabelledImage li = r.next();
        assertThat(li.label()).isEqualTo(42);
        assertThat(li.image().value(0, 0, 0)).isEqualTo(200);
        assertThat(li.image().value(0, 0, 1)).isEqualTo(100);
        assertThat(li.image().value(0, 0, 2)).isEqualTo(50);
        assertThat(r.hasNext()).isFalse();
    }

    @Test
    void truncatedFileAndOutOfRangeLabelAreClearErrors() {
        CifarBinaryReader truncated = CifarBinaryReader.of(new ByteArrayInputStream(new byte[100]),
                CifarBinaryReader.CifarFormat.CIFAR10);
        assertThatThrownBy(truncated::hasNext).isInstanceOf(UncheckedIOException.class).hasMessageContaining("truncated");
        byte[] rec = new byte[3073];
        rec[0] = 12;
        CifarBinaryReader bad = CifarBinaryReader.of(new ByteArrayInputStream(rec), CifarBinaryReader.CifarFormat.CIFAR10);
        assertThatThrownBy(bad::hasNext).hasMessageContaining("label 12");
    }

    @Test
    void imageSetLoadsWithLimitAndSplitsDeterministically() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 300);
        assertThat(set.size()).isEqualTo(300);
        ImageSet[] a = set.split(50, 7);
        ImageSet[] b = set.split(50, 7);
        assertThat(a[0].size()).isEqualTo(250);
        assertThat(a[1].size()).isEqualTo(50);
        for (int i = 0; i < 50; i++) {
            assertThat(a[1].label(i)).isEqualTo(b[1].label(i));
            assertThat(a[1].image(i).pixels()).isEqualTo(b[1].image(i).pixels());
        }
    }
}
