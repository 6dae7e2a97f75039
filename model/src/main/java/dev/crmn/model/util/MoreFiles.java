package dev.crmn.model.util;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.stream.Stream;

/** File helpers the modules share. */
public final class MoreFiles {

    private MoreFiles() {
    }

    /** Deletes a file or a directory tree; a path that is not there is fine. */
    public static void deleteRecursively(Path path) throws IOException {
        if (!Files.exists(path, java.nio.file.LinkOption.NOFOLLOW_LINKS)) {
            return;
        }
        try (Stream<Path> s = Files.walk(path)) {
            for (Path p : s.sorted(Comparator.reverseOrder()).toList()) {
                try {
                    Files.delete(p);
                } catch (NoSuchFileException ignored) {
                    // removed concurrently
                }
            }
        }
    }

    /** {@link #deleteRecursively}, ignoring failures (clean-up after another error). */
    public static void deleteQuietly(Path path) {
        try {
            deleteRecursively(path);
        } catch (IOException | RuntimeException ignored) {
            // best effort
        }
    }
}
