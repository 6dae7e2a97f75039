package dev.crmn.connectors.store;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.testutil.Checkpoints2;
import dev.crmn.model.checkpoint.Checkpoints;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelCacheTest {

    @TempDir
    static Path dir;
    static ModelStore store;
    static final List<ModelRef> versions = new ArrayList<>();

    @BeforeAll
    static void publishFive() throws Exception {
        store = new ModelStore(dir.resolve("store").toString());
        for (long v = 1; v <= 5; v++) {
            versions.add(store.publish(Checkpoints2.tiny(dir.resolve("local-v" + v), v, v == 1 ? null : v - 1, v)));
        }
    }

    private static List<String> entries(Path cache) throws Exception {
        try (Stream<Path> s = Files.list(cache)) {
            return s.map(p -> p.getFileName().toString()).sorted().collect(Collectors.toList());
        }
    }

    private static long versionIn(Path checkpoint) throws java.io.IOException {
        return Checkpoints.readManifest(checkpoint.resolve(Checkpoints.MANIFEST)).version();
    }

    @Test
    void aJobThatSwapsForWeeksKeepsOnlyTheMostRecentlyUsedVersions() throws Exception {
        Path cacheDir = dir.resolve("swaps");
        ModelCache cache = new ModelCache(store, cacheDir, 2, Duration.ZERO);
        for (int round = 0; round < 3; round++) { // v1..v5, then again: every version was on disk at some point
            for (ModelRef r : versions) {
                assertThat(cache.use(r, ModelCacheTest::versionIn)).isEqualTo(r.version());
                Files.setLastModifiedTime(cacheDir, FileTime.fromMillis(0)); // (the directory's own time is not used)
                assertThat(entries(cacheDir)).hasSizeLessThanOrEqualTo(2);
            }
        }
        assertThat(entries(cacheDir)).allMatch(n -> n.startsWith("tiny-v4-") || n.startsWith("tiny-v5-"));
    }

    @Test
    void anEntryInUseIsNotEvictedNorOneUsedWithinTheGracePeriod() throws Exception {
        Path cacheDir = dir.resolve("in-use");
        ModelCache keepNone = new ModelCache(store, cacheDir, 0, Duration.ZERO);
        // while v1 loads (a slow subtask), another subtask of this TaskManager loads v2..v5
        long loaded = keepNone.use(versions.get(0), v1 -> {
            for (ModelRef r : versions.subList(1, 5)) {
                keepNone.use(r, ModelCacheTest::versionIn);
            }
            assertThat(v1).isDirectory();
            return versionIn(v1);
        });
        assertThat(loaded).isEqualTo(1);
        assertThat(entries(cacheDir)).as("nothing in use any more, keep 0").isEmpty();

        ModelCache patient = new ModelCache(store, cacheDir, 0, Duration.ofMinutes(10));
        for (ModelRef r : versions) {
            patient.use(r, ModelCacheTest::versionIn);
        }
        assertThat(entries(cacheDir)).as("used within the grace period: another process may be loading them").hasSize(5);
        for (String e : entries(cacheDir)) {
            Files.setLastModifiedTime(cacheDir.resolve(e), FileTime.fromMillis(System.currentTimeMillis() - 3_600_000));
        }
        assertThat(patient.evict()).hasSize(5);
    }

    @Test
    void leftoversOfKilledProcessesGoOnceTheyAreOld() throws Exception {
        Path cacheDir = dir.resolve("leftovers");
        Files.createDirectories(cacheDir);
        for (String name : List.of(".fetch-old", ".stale-old", ".publish-old", ".fetch-new", ".other-old")) {
            Path p = Files.createDirectories(cacheDir.resolve(name).resolve("v1"));
            Files.writeString(p.resolve("model.zip"), "partial");
            if (name.endsWith("-old")) {
                Files.setLastModifiedTime(cacheDir.resolve(name), FileTime.fromMillis(System.currentTimeMillis() - 7_200_000));
            }
        }
        new ModelCache(store, cacheDir).evict();
        assertThat(entries(cacheDir)).as("a fetch in progress and what the cache does not own stay")
                .containsExactly(".fetch-new", ".other-old");
    }

    @Test
    void theCacheLiesWhereTheTaskManagerSays() {
        assertThat(ModelCache.dir("/data/cache", Path.of("/tm-tmp"))).isEqualTo(Path.of("/data/cache"));
        assertThat(ModelCache.dir(null, Path.of("/tm-tmp"))).isEqualTo(Path.of("/tm-tmp", ModelCache.DIR_NAME));
        assertThat(ModelCache.dir(" ", null)).isEqualTo(Path.of(System.getProperty("java.io.tmpdir"), ModelCache.DIR_NAME));
    }
}
