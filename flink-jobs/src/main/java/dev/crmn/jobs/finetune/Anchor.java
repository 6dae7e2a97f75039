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
 * undrifted one. Read from {@code paths} (CIFAR binary files or image folders, where the job runs) when the trainer
 * opens; configuration, not state: {@code images} of them, a seeded sample, the same after every restart.
 */
public record Anchor(List<String> paths, int images, double share) implements Serializable {

    public Anchor {
        paths = List.copyOf(paths);
        if (paths.isEmpty() || images < 1 || !(share > 0 && share < 1)) {
            throw new IllegalArgumentException("an anchor needs files, --anchor-images >= 1 and --anchor-share in (0, 1)");
        }
    }

    /**
     * The anchor images as training examples of {@code model} (its class order), or an error naming what is wrong:
     * a missing file, an image that does not decode, classes the model does not have.
     */
    public List<Example> load(Manifest model) throws IOException {
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
        List<Example> out = new ArrayList<>(Math.min(images, set.size()));
        for (int i = 0; i < Math.min(images, set.size()); i++) {
            int k = order[i];
            out.add(new Example(set.image(k).pixels(), set.label(k), -1, -1));
        }
        return out;
    }
}
