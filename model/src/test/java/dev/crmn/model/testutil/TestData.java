package dev.crmn.model.testutil;

import java.nio.file.Files;
import java.nio.file.Path;

/** Locates the shared CIFAR-10 data ({@code ../shared/datasets/cifar10} beside the repository). */
public final class TestData {

    private TestData() {
    }

    /** The CIFAR-10 directory: {@code $CRMN_CIFAR10_DIR}, else the nearest {@code shared/datasets/cifar10} upward. */
    public static Path cifar10() {
        String env = System.getenv("CRMN_CIFAR10_DIR");
        if (env != null) {
            return Path.of(env);
        }
        Path dir = Path.of("").toAbsolutePath();
        while (dir != null) {
            Path candidate = dir.resolve("shared/datasets/cifar10");
            if (Files.isRegularFile(candidate.resolve("test_batch.bin"))) {
                return candidate;
            }
            dir = dir.getParent();
        }
        throw new IllegalStateException("CIFAR-10 data not found: put the repository beside shared/ "
                + "(../shared/datasets/cifar10) or set CRMN_CIFAR10_DIR");
    }

    public static Path testBatch() {
        return cifar10().resolve("test_batch.bin");
    }

    public static Path trainBatch1() {
        return cifar10().resolve("data_batch_1.bin");
    }
}
