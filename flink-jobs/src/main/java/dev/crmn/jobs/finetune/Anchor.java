package dev.crmn.jobs.finetune;

import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.ImageSet;
import java.io.IOException;
import java.io.Serializable;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The anchor: clean labelled images of what the model already knows (e.g. part of its own training data), mixed
 * into every round ({@code share} of its images) so that adapting to a drifted stream does not forget the
 * undrifted one, and a check against forgetting: {@code checkImages} more of them, never trained on, on which the
 * gate refuses a candidate more than {@code maxForgetting} points below the version fine-tuning started from. Read
 * from {@code paths} (CIFAR binary files or image folders, where the job runs) when the trainer opens;
 * configuration, not state: a seeded sample, the same after every restart.
 *
 * @param images        training images kept in memory, at most
 * @param checkImages   held-out images of the forgetting check, at most (and at most a fifth of what the files
 *                      hold; none when that leaves fewer than {@link #MIN_CHECK_IMAGES} or {@code checkImages}); 0:
 *                      no check
 * @param maxForgetting points of accuracy on the check images a candidate may lose against the reference
 */
public record Anchor(List<String> paths, int images, double share, int checkImages, double maxForgetting)
        implements Serializable {

    /**
     * No check unless asked for: on images the model trained on (its own training data, the anchor docs/finetune.md
     * suggests) the check overstates forgetting about twofold (measured: docs/results.md, "The forgetting check").
     */
    public static final int DEFAULT_CHECK_IMAGES = 0;
    public static final double DEFAULT_MAX_FORGETTING = 2.0;
    /** The fewest held-out images the default check runs on (files of at least five times as many). */
    public static final int MIN_CHECK_IMAGES = 500;

    public Anchor {
        paths = List.copyOf(paths);
        if (paths.isEmpty() || images < 1 || !(share > 0 && share < 1)) {
            throw new IllegalArgumentException("an anchor needs files, --anchor-images >= 1 and --anchor-share in (0, 1)");
        }
        if (checkImages < 0 || !(maxForgetting >= 0 && maxForgetting <= 100)) {
            throw new IllegalArgumentException("--anchor-check-images must be >= 0 and --max-forgetting in [0, 100] points");
        }
    }

    /** An anchor with the default forgetting check. */
    public Anchor(List<String> paths, int images, double share) {
        this(paths, images, share, DEFAULT_CHECK_IMAGES, DEFAULT_MAX_FORGETTING);
    }

    /**
     * The files {@code --anchor} names, as absolute paths: a path that exists (or names a folder) is taken as it is, a
     * bare file name ({@code data_batch_1.bin}) from the CIFAR-10 copy the tools find ({@code ./crmn data where}), as
     * every other command's data option does. Resolved once, where the job is planned, so that the trainer opens the
     * same files.
     */
    public static List<String> resolve(List<String> given, java.util.function.Consumer<String> note) throws IOException {
        try {
            return dev.crmn.model.data.Cifar10Dir.files(given.stream().map(Path::of).toList(), List.of(), note).stream()
                    .map(p -> p.toAbsolutePath().normalize().toString()).toList();
        } catch (IOException e) {
            throw new IOException("--anchor " + String.join(",", given) + ": " + e.getMessage(), e);
        }
    }

    /**
     * The anchor's images: {@code train} mixed into rounds, {@code check} the forgetting check's (disjoint from
     * {@code train}; empty when there is no check), {@code checkDigest} a fingerprint of the check images and labels
     * (a reference accuracy measured on other images does not apply).
     */
    public record Images(List<Example> train, List<Example> check, String checkDigest) {
    }

    /**
     * The anchor images as examples of {@code model} (its class order), or an error naming what is wrong: a missing
     * file, an image that does not decode, classes the model does not have.
     */
    public Images load(Manifest model) throws IOException {
        List<Path> files = paths.stream().map(Path::of).toList();
        ImageSet set;
        try {
            set = ImageSet.load(files, 0).matchClasses(model.labels(), note -> { });
        } catch (IOException | IllegalArgumentException e) {
            throw new IOException("--anchor " + String.join(",", paths) + ": " + e.getMessage(), e);
        }
        if (set.height() != model.input().height() || set.width() != model.input().width()
                || set.channels() != model.input().channels()) {
            throw new IOException("--anchor images are " + set.height() + "x" + set.width() + "x" + set.channels() + "; "
                    + model.displayName() + " takes " + model.input().height() + "x" + model.input().width() + "x"
                    + model.input().channels());
        }
        int[] order = ImageSet.permutation(set.size(), new Random(0x5eed));
        int checked = Math.min(checkImages, set.size() / 5);
        if (checked < Math.min(checkImages, MIN_CHECK_IMAGES)) {
            checked = 0; // a point estimate on fewer images is noise against a bound of a point or two: no check
        }
        int trained = Math.min(images, set.size() - checked);
        List<Example> check = new ArrayList<>(checked);
        List<Example> train = new ArrayList<>(trained);
        java.util.zip.CRC32C digest = new java.util.zip.CRC32C();
        for (int i = 0; i < checked + trained; i++) {
            int k = order[i];
            Example e = new Example(set.image(k).pixels(), set.label(k), -1, -1);
            if (i < checked) {
                check.add(e);
                digest.update(e.pixels());
                digest.update(e.label());
            } else {
                train.add(e);
            }
        }
        return new Images(train, check, checked == 0 ? "" : checked + "-" + Long.toHexString(digest.getValue()));
    }
}
