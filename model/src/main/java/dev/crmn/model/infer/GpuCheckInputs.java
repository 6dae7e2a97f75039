package dev.crmn.model.infer;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Writes what the GPU check ships of a checkpoint (cuda-engine/gpu-check/make-bundle.sh): its
 * {@link ServingWeights} as a {@link ServingWeightsFile}, and a {@link ReferenceFile} of real images with the
 * probabilities the CPU serving network gives them.
 *
 * <p>{@code GpuCheckInputs CHECKPOINT_DIR IMAGES_FILE COUNT OUT_DIR} writes {@code OUT_DIR/<name>.weights} and
 * {@code OUT_DIR/<name>.reference}.
 */
public final class GpuCheckInputs {

    private GpuCheckInputs() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 4) {
            System.err.println("usage: GpuCheckInputs CHECKPOINT_DIR IMAGES_FILE COUNT OUT_DIR");
            System.exit(2);
        }
        dev.crmn.model.perf.CpuFastPath.configure(); // the reference is the CPU fast path's output
        Checkpoints.Loaded loaded = Checkpoints.load(Path.of(args[0]), false);
        ImageSet set = ImageSet.load(List.of(Path.of(args[1])), Integer.parseInt(args[2]));
        Path out = Files.createDirectories(Path.of(args[3]));
        String name = loaded.manifest().name();
        ServingWeightsFile.write(ServingWeights.of(loaded.network(), loaded.manifest().architecture()),
                out.resolve(name + ".weights"));
        List<PixelImage> images = new ArrayList<>();
        int[] labels = new int[set.size()];
        for (int i = 0; i < set.size(); i++) {
            images.add(set.image(i));
            labels[i] = set.label(i);
        }
        try (Classifier c = Classifier.of(loaded, ClassifierOptions.fast())) {
            INDArray x = c.prepare(images);
            float[] nhwc = x.dup('c').data().asFloat();
            float[][] p = c.probabilities(x);
            new ReferenceFile(images.size(), (int) x.size(1), (int) x.size(2), (int) x.size(3), labels, nhwc, p)
                    .write(out.resolve(name + ".reference"));
        }
        System.out.println("wrote " + out.resolve(name + ".weights") + " and " + out.resolve(name + ".reference"));
    }
}
