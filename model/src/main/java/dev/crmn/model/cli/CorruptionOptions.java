package dev.crmn.model.cli;

import dev.crmn.model.data.Corruption;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.PixelImage;
import picocli.CommandLine.Option;

/** {@code --corrupt NAME[:SEVERITY]} and {@code --seed}: the drifted camera of produce, eval and demo (a picocli mixin). */
public final class CorruptionOptions {

    @Option(names = "--corrupt", paramLabel = "NAME[:SEVERITY]", description = "Corrupt every image as a drifted camera"
            + " would: brightness, contrast, gaussian-noise, blur, tint or jpeg, severity 1 (mild) to 5 (strong), default"
            + " 3; deterministic by --seed.")
    String corrupt;

    @Option(names = "--seed", defaultValue = "0", description = "Seed of --corrupt (default: ${DEFAULT-VALUE}).")
    long seed;

    private Corruption parsed;

    /** The corruption asked for, or null; a bad name or severity: IllegalArgumentException, in one line. */
    public Corruption corruption() {
        if (parsed == null && corrupt != null) {
            parsed = Corruption.parse(corrupt);
        }
        return parsed;
    }

    public long seed() {
        return seed;
    }

    /** {@code set} corrupted, or {@code set} itself when no corruption was asked for. */
    public ImageSet apply(ImageSet set) {
        return corruption() == null ? set : corruption().apply(set, seed);
    }

    /** Image {@code index} of a stream corrupted, or itself when no corruption was asked for. */
    public PixelImage apply(PixelImage img, long index) {
        return corruption() == null ? img : corruption().apply(img, index, seed);
    }
}
