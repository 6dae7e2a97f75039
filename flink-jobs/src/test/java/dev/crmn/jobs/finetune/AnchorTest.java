package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class AnchorTest {

    static final Path SAMPLE = Path.of("..", "data", "cifar10-sample", "data_batch_1.bin");

    static Manifest shipped() throws Exception {
        return Checkpoints.readManifest(Path.of("..", "models", "crmn-demo", Checkpoints.MANIFEST));
    }

    @Test
    void itKeepsASeededSampleOfTheFilesAsTrainingExamplesTheSameEveryTime() throws Exception {
        Anchor a = new Anchor(List.of(SAMPLE.toString()), 100, 0.2);
        List<Example> first = a.load(shipped()).train();
        assertThat(first).hasSize(100).allMatch(e -> e.pixels().length == 32 * 32 * 3 && e.label() >= 0 && e.label() < 10);
        List<Example> again = a.load(shipped()).train();
        assertThat(again).extracting(Example::label).isEqualTo(first.stream().map(Example::label).toList());
        assertThat(new Anchor(List.of(SAMPLE.toString()), 1_000_000, 0.2, 0, 1).load(shipped()).train())
                .as("at most what the files hold").hasSize(400);
    }

    @Test
    void itHoldsOutTheForgettingChecksImagesFromTrainingAndFingerprintsThem() throws Exception {
        Anchor.Images all = new Anchor(List.of(SAMPLE.toString()), 1_000_000, 0.2, 80, 1).load(shipped());
        assertThat(all.check()).as("at most a fifth of the 400 images").hasSize(80);
        assertThat(all.train()).as("the rest").hasSize(320);
        Anchor.Images tooFew = new Anchor(List.of(SAMPLE.toString()), 1_000_000, 0.2, 2000, 2).load(shipped());
        assertThat(tooFew.check()).as("a fifth of 400 is too few for a check of up to 2,000 (at least %d)",
                Anchor.MIN_CHECK_IMAGES).isEmpty();
        assertThat(tooFew.train()).hasSize(400);
        assertThat(new Anchor(List.of(SAMPLE.toString()), 1_000_000, 0.2, 200, 2).load(shipped()).check())
                .as("200 asked for, 80 possible: too few for what was asked").isEmpty();
        assertThat(new Anchor(List.of(SAMPLE.toString()), 1_000_000, 0.2).load(shipped()).check())
                .as("no check unless asked for").isEmpty();
        assertThat(all.check()).allSatisfy(c -> assertThat(all.train()).noneMatch(t -> t.pixels() == c.pixels()
                || java.util.Arrays.equals(t.pixels(), c.pixels())));
        Anchor.Images few = new Anchor(List.of(SAMPLE.toString()), 50, 0.2, 30, 1).load(shipped());
        assertThat(few.check()).hasSize(30);
        assertThat(few.train()).hasSize(50);
        assertThat(few.checkDigest()).isEqualTo(new Anchor(List.of(SAMPLE.toString()), 10, 0.2, 30, 2).load(shipped())
                .checkDigest()).as("the same check images, whatever else differs").isNotEqualTo(all.checkDigest());
        Anchor.Images none = new Anchor(List.of(SAMPLE.toString()), 50, 0.2, 0, 1).load(shipped());
        assertThat(none.check()).isEmpty();
        assertThat(none.checkDigest()).isEmpty();
        assertThatThrownBy(() -> new Anchor(List.of(SAMPLE.toString()), 10, 0.2, -1, 1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--anchor-check-images");
        assertThatThrownBy(() -> new Anchor(List.of(SAMPLE.toString()), 10, 0.2, 10, -1))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--max-forgetting");
    }

    @Test
    void withAnAnchorTheLearnerDistilsByDefaultWithoutOneItLearnsFromTheLabelsAloneAndAnExplicitWeightWins() {
        Anchor a = new Anchor(List.of(SAMPLE.toString()), 100, 0.2);
        org.apache.flink.configuration.Configuration none = new org.apache.flink.configuration.Configuration();
        assertThat(FineTuneJob.distillation(none, null)).isEqualTo(0);
        assertThat(FineTuneJob.distillation(none, a)).isEqualTo(FineTuneOptions.ANCHORED_DISTILLATION).isEqualTo(0.5);
        org.apache.flink.configuration.Configuration off = new org.apache.flink.configuration.Configuration();
        off.set(FineTuneOptions.DISTILLATION, 0.0);
        assertThat(FineTuneJob.distillation(off, a)).isEqualTo(0);
        off.set(FineTuneOptions.DISTILLATION, 0.3);
        assertThat(FineTuneJob.distillation(off, null)).isEqualTo(0.3);
        off.set(FineTuneOptions.DISTILLATION, 1.0);
        assertThatThrownBy(() -> FineTuneJob.distillation(off, a)).isInstanceOf(IllegalArgumentException.class)
                .hasMessageContaining("--distillation must be in [0, 1)");
    }

    @Test
    void aBareFileNameIsTakenFromTheCifar10CopyTheToolsFindAsEveryOtherDataOptionTakesIt() throws Exception {
        List<String> notes = new java.util.ArrayList<>();
        List<String> named = Anchor.resolve(List.of("data_batch_1.bin"), notes::add);
        Path located = dev.crmn.model.data.Cifar10Dir.locate(null).file("data_batch_1.bin").toAbsolutePath().normalize();
        assertThat(named).containsExactly(located.toString());
        assertThat(located).isRegularFile();
        assertThat(notes).singleElement().asString().startsWith("CIFAR-10: ");
        assertThat(new Anchor(named, 10, 0.2).load(shipped()).train()).hasSize(10);
        assertThat(Anchor.resolve(List.of(SAMPLE.toString()), notes::add)).as("a path that is there stays that path")
                .containsExactly(SAMPLE.toAbsolutePath().normalize().toString());
        assertThatThrownBy(() -> Anchor.resolve(List.of("data_batch_9.bin"), n -> { }))
                .isInstanceOf(IOException.class).hasMessageContaining("--anchor data_batch_9.bin")
                .hasMessageContaining("not a file here");
    }

    @Test
    void aMissingOrUnreadableAnchorIsRefusedInOneLineNamingIt(@TempDir Path dir) throws Exception {
        assertThatThrownBy(() -> new Anchor(List.of(dir.resolve("none.bin").toString()), 10, 0.2).load(shipped()))
                .isInstanceOf(IOException.class).hasMessageContaining("--anchor").hasMessageContaining("none.bin");
        Path junk = Files.write(dir.resolve("junk.bin"), new byte[100]);
        assertThatThrownBy(() -> new Anchor(List.of(junk.toString()), 10, 0.2).load(shipped()))
                .isInstanceOf(IOException.class).hasMessageContaining("--anchor");
        assertThatThrownBy(() -> new Anchor(List.of(SAMPLE.toString()), 10, 1.0))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--anchor-share");
    }
}
