package dev.crmn.model.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;

/**
 * Reads an image folder: either one subfolder per class ({@code ROOT/<class>/<image>}; class index = position
 * of the folder name in sorted order) or a flat folder of images without labels ({@code ROOT/<image>}, for
 * tools that need none, such as {@code crmn produce}). PNG and JPEG files ({@code .png}, {@code .jpg},
 * {@code .jpeg}) are read in sorted order and decoded by {@link ImageBytes} (pixel budget checked before
 * decoding); other files are not images and are counted in {@link #ignored()}.
 */
public final class ImageFolderReader {

    /** Largest image file read (bytes). */
    public static final long MAX_FILE_BYTES = 64L << 20;
    /** Largest image decoded (width x height, from its header). */
    public static final long MAX_PIXELS = 64L << 20;

    /** One image file and its class index (-1 in a flat folder). */
    public record Entry(Path file, int label) {
    }

    private final List<String> classNames;
    private final List<Entry> entries;
    private final List<Path> ignored;

    private ImageFolderReader(List<String> classNames, List<Entry> entries, List<Path> ignored) {
        this.classNames = classNames;
        this.entries = entries;
        this.ignored = ignored;
    }

    /**
     * Lists a folder.
     *
     * @throws IOException if it is not a folder or holds neither class subfolders nor images
     */
    public static ImageFolderReader open(Path root) throws IOException {
        if (!Files.isDirectory(root)) {
            throw new IOException(root + " is not a folder");
        }
        List<Path> children;
        try (Stream<Path> s = Files.list(root)) {
            children = s.sorted().toList();
        }
        List<Path> dirs = children.stream().filter(Files::isDirectory).toList();
        List<String> names = new ArrayList<>();
        List<Entry> entries = new ArrayList<>();
        List<Path> ignored = new ArrayList<>();
        if (dirs.isEmpty()) {
            for (Path f : children) {
                if (isImage(f)) {
                    entries.add(new Entry(f, -1));
                } else {
                    ignored.add(f);
                }
            }
            if (entries.isEmpty()) {
                throw new IOException(root + " holds no images (.png, .jpg, .jpeg) and no class subfolders "
                        + "(ROOT/<class>/<image>.png)");
            }
            return new ImageFolderReader(List.of(), entries, ignored);
        }
        children.stream().filter(p -> !Files.isDirectory(p)).forEach(ignored::add);
        for (int c = 0; c < dirs.size(); c++) {
            names.add(dirs.get(c).getFileName().toString());
            try (Stream<Path> s = Files.list(dirs.get(c))) {
                for (Path f : s.sorted().toList()) {
                    if (isImage(f)) {
                        entries.add(new Entry(f, c));
                    } else {
                        ignored.add(f);
                    }
                }
            }
        }
        return new ImageFolderReader(List.copyOf(names), entries, ignored);
    }

    /** Whether a path names an image file by its extension. */
    public static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return Files.isRegularFile(p) && (n.endsWith(".png") || n.endsWith(".jpg") || n.endsWith(".jpeg"));
    }

    /** Class names (sorted subfolder names); empty for a flat folder. */
    public List<String> classNames() {
        return classNames;
    }

    /** Whether the folder has class subfolders (labels). */
    public boolean labelled() {
        return !classNames.isEmpty();
    }

    public List<Entry> entries() {
        return entries;
    }

    public int size() {
        return entries.size();
    }

    /** Files that are not images (by extension), not read. */
    public List<Path> ignored() {
        return ignored;
    }

    /**
     * Reads and decodes one entry.
     *
     * @throws ImageBytes.DecodeException if the file is not a decodable PNG/JPEG within the budgets
     * @throws IOException if it cannot be read
     */
    public static PixelImage decode(Entry e) throws IOException {
        long size = Files.size(e.file());
        if (size > MAX_FILE_BYTES) {
            throw new ImageBytes.DecodeException(ImageBytes.Failure.TOO_LARGE, e.file() + " has " + size
                    + " bytes, the limit is " + MAX_FILE_BYTES, null);
        }
        try {
            return ImageBytes.decode(Files.readAllBytes(e.file()), MAX_PIXELS);
        } catch (ImageBytes.DecodeException ex) {
            throw new ImageBytes.DecodeException(ex.failure(), e.file() + ": " + ex.getMessage(), ex);
        }
    }
}
