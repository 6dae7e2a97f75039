package dev.crmn.model.data;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * A labelled image set held in memory as 8-bit pixels (CIFAR-10's 20,000 training images take 61 MB).
 * All images share one shape. Immutable after construction.
 */
public final class ImageSet {

    private final int height;
    private final int width;
    private final int channels;
    private final byte[] pixels;
    private final int[] labels;
    private final List<String> classNames;
    private final String description;

    private ImageSet(int height, int width, int channels, byte[] pixels, int[] labels, List<String> classNames,
                     String description) {
        this.height = height;
        this.width = width;
        this.channels = channels;
        this.pixels = pixels;
        this.labels = labels;
        this.classNames = List.copyOf(classNames);
        this.description = description;
    }

    /** Collects images; every image is converted to the given shape (channels, then bilinear resize). */
    public static ImageSet of(Iterable<LabelledImage> images, List<String> classNames, int height, int width,
                              int channels, String description) {
        int per = height * width * channels;
        byte[] buf = new byte[per * 1024];
        int[] lab = new int[1024];
        int n = 0;
        for (LabelledImage li : images) {
            if (li.label() < 0 || li.label() >= classNames.size()) {
                throw new IllegalArgumentException("label " + li.label() + " outside 0.." + (classNames.size() - 1));
            }
            PixelImage img = li.image().withChannels(channels).resize(height, width);
            if (n == lab.length) {
                lab = Arrays.copyOf(lab, n * 2);
                buf = Arrays.copyOf(buf, per * n * 2);
            }
            System.arraycopy(img.pixels(), 0, buf, n * per, per);
            lab[n++] = li.label();
        }
        return new ImageSet(height, width, channels, Arrays.copyOf(buf, n * per), Arrays.copyOf(lab, n), classNames,
                description);
    }

    /**
     * Loads one or more sources: CIFAR-10/100 binary files, or image folders (one subfolder per class). All
     * sources must agree on the class list. Strict: an image that does not decode is an error naming it.
     *
     * @param limit at most this many images in total (0 = all)
     */
    public static ImageSet load(List<Path> sources, int limit) throws IOException {
        return load(sources, limit, null);
    }

    /**
     * As {@link #load(List, int)}; with {@code skipped} given, images that do not decode and files that are
     * not images are left out and recorded there instead of failing the load.
     */
    public static ImageSet load(List<Path> sources, int limit, Skipped skipped) throws IOException {
        List<LabelledImage> all = new ArrayList<>();
        List<String> names = null;
        StringBuilder desc = new StringBuilder();
        for (Path p : sources) {
            if (!Files.exists(p)) {
                throw new IOException("data " + p + " not found");
            }
            List<String> srcNames;
            List<LabelledImage> imgs = new ArrayList<>();
            if (Files.isDirectory(p)) {
                ImageFolderReader folder = ImageFolderReader.open(p);
                if (!folder.labelled()) {
                    throw new IOException(p + " has no class subfolders: labelled data is ROOT/<class>/<image>.png");
                }
                srcNames = folder.classNames();
                if (skipped != null) {
                    skipped.notImages(folder.ignored().size());
                }
                for (ImageFolderReader.Entry e : folder.entries()) {
                    if (limit > 0 && all.size() + imgs.size() >= limit) {
                        break;
                    }
                    try {
                        imgs.add(new LabelledImage(ImageFolderReader.decode(e), e.label()));
                    } catch (ImageBytes.DecodeException ex) {
                        if (skipped == null) {
                            throw ex;
                        }
                        skipped.image(e.file(), ex.failure().name().toLowerCase(java.util.Locale.ROOT), ex.getMessage());
                    }
                }
            } else {
                CifarBinaryReader.CifarFormat fmt = CifarBinaryReader.detect(p);
                srcNames = CifarBinaryReader.classNames(p, fmt);
                try (CifarBinaryReader r = CifarBinaryReader.open(p, fmt)) {
                    while (r.hasNext() && (limit <= 0 || all.size() + imgs.size() < limit)) {
                        imgs.add(r.next());
                    }
                } catch (UncheckedIOException e) {
                    throw e.getCause();
                }
            }
            if (names == null) {
                names = srcNames;
            } else if (!names.equals(srcNames)) {
                throw new IOException("class lists differ between sources: " + names + " vs " + srcNames + " (" + p + ")");
            }
            all.addAll(imgs);
            desc.append(desc.length() == 0 ? "" : ", ").append(p.getFileName()).append(" (").append(imgs.size()).append(')');
        }
        if (names == null || all.isEmpty()) {
            throw new IOException("no images in " + sources);
        }
        PixelImage first = all.get(0).image();
        return of(all, names, first.height(), first.width(), first.channels(), desc.toString());
    }

    /**
     * Whether the class names are the placeholders {@code class_0, class_1, ...} that a CIFAR file without its
     * names file ({@code batches.meta.txt}) gets.
     */
    public boolean hasPlaceholderNames() {
        return classNames.equals(CifarBinaryReader.placeholderNames(classNames.size()));
    }

    /** This set with other names for its classes (same number). */
    public ImageSet withClassNames(List<String> names) {
        if (names.size() != classNames.size()) {
            throw new IllegalArgumentException(names.size() + " class names for " + classNames.size() + " classes");
        }
        return new ImageSet(height, width, channels, pixels, labels, names, description);
    }

    /**
     * This set with {@code modelLabels} as its class names: unchanged when they are the set's own names;
     * when every class of the set is one of the model's (an image folder with subfolders for some classes),
     * its labels are renumbered to the model's indices; when the set has only placeholder names (a CIFAR file
     * without {@code batches.meta.txt}) and the same number of classes, the model's names are used by index
     * and {@code note} is told so.
     *
     * @throws IllegalArgumentException if the classes do not match
     */
    public ImageSet matchClasses(List<String> modelLabels, java.util.function.Consumer<String> note) {
        if (classNames.equals(modelLabels)) {
            return this;
        }
        if (!hasPlaceholderNames() && modelLabels.containsAll(classNames)) {
            int[] mapped = new int[labels.length];
            for (int i = 0; i < labels.length; i++) {
                mapped[i] = modelLabels.indexOf(classNames.get(labels[i]));
            }
            return new ImageSet(height, width, channels, pixels, mapped, modelLabels, description);
        }
        if (hasPlaceholderNames() && classNames.size() == modelLabels.size()) {
            note.accept("the data carries no class names (no batches.meta.txt beside it): its " + classNames.size()
                    + " labels are taken as the model's classes by index");
            return withClassNames(modelLabels);
        }
        throw new IllegalArgumentException("the data's classes " + classNames + " differ from the model's " + modelLabels);
    }

    public int size() {
        return labels.length;
    }

    public int height() {
        return height;
    }

    public int width() {
        return width;
    }

    public int channels() {
        return channels;
    }

    public List<String> classNames() {
        return classNames;
    }

    public String description() {
        return description;
    }

    public int label(int i) {
        return labels[i];
    }

    /** Value 0..255 of pixel byte {@code k} (HWC order) of image {@code i}. */
    public int pixel(int i, int k) {
        return pixels[i * height * width * channels + k] & 0xFF;
    }

    public PixelImage image(int i) {
        int per = height * width * channels;
        return new PixelImage(height, width, channels, Arrays.copyOfRange(pixels, i * per, (i + 1) * per));
    }

    /** The images at these indices, in that order. */
    public ImageSet subset(int[] indices, String desc) {
        int per = height * width * channels;
        byte[] px = new byte[indices.length * per];
        int[] lab = new int[indices.length];
        for (int j = 0; j < indices.length; j++) {
            System.arraycopy(pixels, indices[j] * per, px, j * per, per);
            lab[j] = labels[indices[j]];
        }
        return new ImageSet(height, width, channels, px, lab, classNames, desc);
    }

    /**
     * A seeded random split: the first set holds {@code size() - holdout} images, the second {@code holdout}.
     */
    public ImageSet[] split(int holdout, long seed) {
        if (holdout < 0 || holdout >= size()) {
            throw new IllegalArgumentException("holdout " + holdout + " must be in [0, " + size() + ")");
        }
        int[] perm = permutation(size(), new Random(seed));
        int[] train = Arrays.copyOfRange(perm, 0, size() - holdout);
        int[] held = Arrays.copyOfRange(perm, size() - holdout, size());
        Arrays.sort(train);
        Arrays.sort(held);
        return new ImageSet[]{subset(train, description + " minus " + holdout + " held out"),
                subset(held, description + " held-out " + holdout)};
    }

    /** A random permutation of 0..n-1. */
    public static int[] permutation(int n, Random rng) {
        int[] p = new int[n];
        for (int i = 0; i < n; i++) {
            p[i] = i;
        }
        for (int i = n - 1; i > 0; i--) {
            int j = rng.nextInt(i + 1);
            int t = p[i];
            p[i] = p[j];
            p[j] = t;
        }
        return p;
    }
}
