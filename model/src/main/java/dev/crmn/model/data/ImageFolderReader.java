package dev.crmn.model.data;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Reads an image-folder dataset: one subfolder per class (class index = position of the folder name in
 * sorted order), PNG or JPEG files inside, decoded with the JDK's ImageIO. Files are visited in sorted
 * order; a file that does not decode is an error naming it.
 */
public final class ImageFolderReader implements Iterable<LabelledImage> {

    private final List<String> classNames;
    private final List<Path> files;
    private final List<Integer> labels;

    private ImageFolderReader(List<String> classNames, List<Path> files, List<Integer> labels) {
        this.classNames = classNames;
        this.files = files;
        this.labels = labels;
    }

    public static ImageFolderReader open(Path root) throws IOException {
        List<Path> dirs;
        try (Stream<Path> s = Files.list(root)) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        }
        if (dirs.isEmpty()) {
            throw new IOException(root + " has no class subfolders (expected ROOT/<class>/<image>.png)");
        }
        List<String> names = new ArrayList<>();
        List<Path> files = new ArrayList<>();
        List<Integer> labels = new ArrayList<>();
        for (int c = 0; c < dirs.size(); c++) {
            names.add(dirs.get(c).getFileName().toString());
            try (Stream<Path> s = Files.list(dirs.get(c))) {
                for (Path f : s.filter(ImageFolderReader::isImage).sorted().toList()) {
                    files.add(f);
                    labels.add(c);
                }
            }
        }
        return new ImageFolderReader(List.copyOf(names), files, labels);
    }

    private static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg"));
    }

    public List<String> classNames() {
        return classNames;
    }

    public int size() {
        return files.size();
    }

    @Override
    public Iterator<LabelledImage> iterator() {
        return new Iterator<>() {
            private int i;

            @Override
            public boolean hasNext() {
                return i < files.size();
            }

            @Override
            public LabelledImage next() {
                Path f = files.get(i);
                int label = labels.get(i++);
                try {
                    BufferedImage img = ImageIO.read(f.toFile());
                    if (img == null) {
                        throw new IOException("not a decodable PNG/JPEG: " + f);
                    }
                    return new LabelledImage(PixelImage.of(img), label);
                } catch (IOException e) {
                    throw new UncheckedIOException(f + ": " + e.getMessage(), e);
                }
            }
        };
    }
}
