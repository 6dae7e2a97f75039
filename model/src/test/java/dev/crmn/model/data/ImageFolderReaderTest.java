package dev.crmn.model.data;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.model.testutil.TestData;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ImageFolderReaderTest {

    @Test
    void pngFolderRoundTripsCifarPixelsAndSortedClassNames(@TempDir Path dir) throws Exception {
        ImageSet cifar = ImageSet.load(List.of(TestData.testBatch()), 6);
        for (int i = 0; i < cifar.size(); i++) {
            Path cls = dir.resolve(cifar.classNames().get(cifar.label(i)));
            Files.createDirectories(cls);
            ImageIO.write(cifar.image(i).toBufferedImage(), "png", cls.resolve("img" + i + ".png").toFile());
        }
        Files.writeString(dir.resolve(cifar.classNames().get(cifar.label(0))).resolve("notes.txt"), "ignored");
        ImageFolderReader reader = ImageFolderReader.open(dir);
        assertThat(reader.classNames()).isSorted();
        assertThat(reader.size()).isEqualTo(6);
        ImageSet folder = ImageSet.load(List.of(dir), 0);
        // Every decoded image equals one of the CIFAR originals of the same class, pixel for pixel.
        for (int i = 0; i < folder.size(); i++) {
            String cls = folder.classNames().get(folder.label(i));
            boolean found = false;
            for (int j = 0; j < cifar.size(); j++) {
                if (cifar.classNames().get(cifar.label(j)).equals(cls)
                        && java.util.Arrays.equals(cifar.image(j).pixels(), folder.image(i).pixels())) {
                    found = true;
                }
            }
            assertThat(found).as("image %d of class %s matches an original", i, cls).isTrue();
        }
    }

    @Test
    void grayImagesAreExpandedAndResizedToTheSetShape() {
        PixelImage gray = new PixelImage(2, 2, 1, new byte[]{0, (byte) 255, 10, 20});
        PixelImage rgb = gray.toRgb();
        assertThat(rgb.channels()).isEqualTo(3);
        assertThat(rgb.value(0, 1, 0)).isEqualTo(255);
        assertThat(rgb.value(0, 1, 2)).isEqualTo(255);
        PixelImage big = rgb.resize(4, 4);
        assertThat(big.height()).isEqualTo(4);
        assertThat(big.value(0, 0, 0)).isEqualTo(0);
        assertThat(big.value(3, 3, 1)).isEqualTo(20);
    }
}
