package dev.crmn.model.data;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The order in which the tools look for CIFAR-10: --data, $CRMN_CIFAR10_DIR, data/cifar10, ../shared, the sample. */
class Cifar10DirTest {

    @TempDir
    Path root;

    Path home() throws IOException {
        return Files.createDirectories(root.resolve("repo"));
    }

    static Path dataset(Path dir) throws IOException {
        Files.createDirectories(dir);
        Files.write(dir.resolve("test_batch.bin"), new byte[3073]);
        return dir;
    }

    @Test
    void eachPlaceWinsOverTheOnesAfterIt() throws Exception {
        Path home = home();
        Path sample = dataset(Cifar10Dir.sampleDir(home));
        assertThat(Cifar10Dir.locate(null, null, home)).isEqualTo(new Cifar10Dir(sample, "sample"));
        assertThat(Cifar10Dir.locate(null, null, home).isSample()).isTrue();
        Path shared = dataset(root.resolve("shared/datasets/cifar10"));
        assertThat(Cifar10Dir.locate(null, null, home).dir()).isEqualTo(shared);
        Path fetched = dataset(Cifar10Dir.fetchedDir(home));
        assertThat(Cifar10Dir.locate(null, null, home)).isEqualTo(new Cifar10Dir(fetched, "fetched"));
        Path env = dataset(root.resolve("env"));
        assertThat(Cifar10Dir.locate(null, env.toString(), home)).isEqualTo(new Cifar10Dir(env, "$CRMN_CIFAR10_DIR"));
        Path option = dataset(root.resolve("option"));
        assertThat(Cifar10Dir.locate(option, env.toString(), home)).isEqualTo(new Cifar10Dir(option, "--data"));
    }

    @Test
    void aNamedPlaceWithoutTheDataIsAnErrorNotSkipped() throws Exception {
        Path home = home();
        dataset(Cifar10Dir.sampleDir(home));
        assertThatThrownBy(() -> Cifar10Dir.locate(root.resolve("nope"), null, home))
                .hasMessageContaining("--data").hasMessageContaining("no test_batch.bin").hasMessageContaining("data fetch");
        assertThatThrownBy(() -> Cifar10Dir.locate(null, root.resolve("nope").toString(), home))
                .hasMessageContaining("$CRMN_CIFAR10_DIR");
        Path file = Files.writeString(root.resolve("f.bin"), "x");
        assertThatThrownBy(() -> Cifar10Dir.locate(file, null, home)).hasMessageContaining("a directory is expected");
    }

    @Test
    void nothingAnywhereSaysWhereItLookedAndHowToFetch() throws Exception {
        Path home = home();
        assertThatThrownBy(() -> Cifar10Dir.locate(null, null, home)).hasMessageContaining("CIFAR-10 not found")
                .hasMessageContaining(Cifar10Dir.fetchedDir(home).toString()).hasMessageContaining("./crmn data fetch cifar10");
    }

    @Test
    void bareFileNamesComeFromTheLocatedSetAndPathsAreTakenAsGiven() throws Exception {
        // the repository's own sample, found upward from the module's working directory
        List<String> notes = new ArrayList<>();
        List<Path> files = Cifar10Dir.files(List.of(Path.of("test_batch.bin")), List.of(), notes::add);
        assertThat(files).hasSize(1);
        assertThat(files.get(0)).isRegularFile().hasFileName("test_batch.bin");
        assertThat(notes).hasSize(1);
        Path own = Files.write(root.resolve("mine.bin"), new byte[3073]);
        notes.clear();
        assertThat(Cifar10Dir.files(List.of(own), List.of("test_batch.bin"), notes::add)).containsExactly(own);
        assertThat(notes).isEmpty();
        assertThat(Cifar10Dir.files(null, List.of("test_batch.bin"), notes::add)).hasSize(1);
        assertThatThrownBy(() -> Cifar10Dir.files(List.of(Path.of("data_batch_9.bin")), List.of(), n -> { }))
                .hasMessageContaining("data_batch_9.bin: not a file here");
    }

    @Test
    void theSampleIsDescribedAsSuchWithHowToGetTheFullSet() {
        assertThat(new Cifar10Dir(Path.of("x"), "sample").describe()).contains("sample").contains("./crmn data fetch cifar10");
        assertThat(new Cifar10Dir(Path.of("x"), "fetched").describe()).doesNotContain("sample");
    }
}
