package dev.crmn.it.testutil;

import dev.crmn.model.checkpoint.Checkpoints;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;

/** Checkpoints made into versions of one model for the tests that need several. */
public final class ModelVersions {

    private ModelVersions() {
    }

    /** The checkpoint {@code source} as crmn-demo {@code version}: a copy in {@code dir} with its manifest renamed. */
    public static Path as(Path dir, String test, Path source, long version) throws IOException {
        Path d = Files.createDirectories(dir.resolve(test + "-v" + version));
        Files.copy(source.resolve(Checkpoints.MODEL), d.resolve(Checkpoints.MODEL));
        Checkpoints.writeManifest(d.resolve(Checkpoints.MANIFEST), Checkpoints.readManifest(source.resolve(Checkpoints.MANIFEST))
                .toBuilder().name("crmn-demo").version(version).build());
        return d;
    }
}
