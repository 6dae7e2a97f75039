package dev.crmn.model.checkpoint;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.data.Batches;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.Normalization;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import dev.crmn.model.testutil.TestData;
import dev.crmn.model.train.Trainer;
import dev.crmn.model.train.TrainingSettings;
import java.io.RandomAccessFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.nd4j.linalg.api.ndarray.INDArray;

class CheckpointsTest {

    @TempDir
    static Path dir;
    static ImageSet data;
    static Trainer.Result trained;
    static Path checkpoint;

    @BeforeAll
    static void trainBriefly() throws Exception {
        data = ImageSet.load(List.of(TestData.testBatch()), 128);
        TrainingSettings s = TrainingSettings.builder().epochs(1).batchSize(32).holdout(32).build();
        trained = new Trainer(s, null, null).train(Presets.get("crmn-tiny"), "tiny", "crmn-tiny", data);
        checkpoint = dir.resolve("tiny-v1");
        Checkpoints.write(checkpoint, trained.network(), trained.manifest(), Map.of("notes.txt", "hi".getBytes()));
    }

    private static INDArray input() {
        int[] idx = new int[16];
        for (int i = 0; i < idx.length; i++) {
            idx[i] = i;
        }
        return Batches.features(data, idx, trained.manifest().normalization(), CNN2DFormat.NHWC, null);
    }

    private static Path copy(String name) throws Exception {
        Path target = dir.resolve(name);
        Files.createDirectories(target);
        for (String f : List.of(Checkpoints.MANIFEST, Checkpoints.MODEL)) {
            Files.copy(checkpoint.resolve(f), target.resolve(f), StandardCopyOption.REPLACE_EXISTING);
        }
        return target;
    }

    @Test
    void saveThenLoadGivesIdenticalOutputsAndManifest() throws Exception {
        Checkpoints.Loaded loaded = Checkpoints.load(checkpoint, true);
        INDArray x = input();
        assertThat(loaded.network().outputSingle(false, x)).isEqualTo(trained.network().outputSingle(false, x));
        Manifest m = loaded.manifest();
        assertThat(m.name()).isEqualTo("tiny");
        assertThat(m.version()).isEqualTo(1);
        assertThat(m.parentVersion()).isNull();
        assertThat(m.architecture()).isEqualTo(Presets.get("crmn-tiny"));
        assertThat(m.labels()).hasSize(10).startsWith("airplane");
        assertThat(m.normalization()).isEqualTo(trained.manifest().normalization());
        assertThat(m.sha256()).isEqualTo(Checkpoints.sha256(checkpoint.resolve(Checkpoints.MODEL)));
        assertThat(m.training()).containsKeys("data", "iterations", "epochs_completed", "settings");
        assertThat(m.metrics()).containsKey("val_accuracy");
        assertThat(loaded.network().getUpdater().getStateViewArray())
                .isEqualTo(trained.network().getUpdater().getStateViewArray());
        assertThat(checkpoint.resolve("notes.txt")).hasContent("hi");
    }

    @Test
    void checkpointsAreImmutable() {
        assertThatThrownBy(() -> Checkpoints.write(checkpoint, trained.network(), trained.manifest()))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("immutable");
    }

    @Test
    void aTruncatedModelFileIsRefused() throws Exception {
        Path c = copy("truncated");
        try (RandomAccessFile f = new RandomAccessFile(c.resolve(Checkpoints.MODEL).toFile(), "rw")) {
            f.setLength(f.length() / 2);
        }
        assertThatThrownBy(() -> Checkpoints.load(c, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("truncated");
    }

    @Test
    void aCorruptedModelFileIsRefusedByItsHash() throws Exception {
        Path c = copy("corrupted");
        try (RandomAccessFile f = new RandomAccessFile(c.resolve(Checkpoints.MODEL).toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 0xFF);
        }
        assertThatThrownBy(() -> Checkpoints.load(c, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("SHA-256");
    }

    @Test
    void aWrongHashInTheManifestIsRefused() throws Exception {
        Path c = copy("wrong-hash");
        Manifest m = Checkpoints.readManifest(c.resolve(Checkpoints.MANIFEST));
        Checkpoints.writeManifest(c.resolve(Checkpoints.MANIFEST), m.withModelFile(m.modelFile(), m.modelBytes(),
                "0".repeat(64)));
        assertThatThrownBy(() -> Checkpoints.load(c, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("SHA-256");
    }

    @Test
    void aManifestForAnotherArchitectureIsRefused() throws Exception {
        // A real wrn-tiny model zip (valid hash) under a manifest that claims crmn-tiny.
        ComputationGraph wrn = CrmnGraphBuilder.network(Presets.get("wrn-tiny"), GraphOptions.training());
        Path c = dir.resolve("mismatch");
        Checkpoints.write(c, wrn, trained.manifest());
        assertThatThrownBy(() -> Checkpoints.load(c, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("does not match the manifest's architecture");
        // And the same trunk with another width.
        CrmnConfig wider = Presets.get("crmn-tiny").toBuilder().widen(2).build();
        Path d = copy("wider");
        Manifest m = Checkpoints.readManifest(d.resolve(Checkpoints.MANIFEST));
        Checkpoints.writeManifest(d.resolve(Checkpoints.MANIFEST), m.toBuilder().architecture(wider).build());
        assertThatThrownBy(() -> Checkpoints.load(d, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("does not match");
    }

    @Test
    void unreadableOrIncompleteManifestsAreRefused() throws Exception {
        Path c = copy("garbage-manifest");
        Files.writeString(c.resolve(Checkpoints.MANIFEST), "{not json");
        assertThatThrownBy(() -> Checkpoints.load(c, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("unreadable manifest");
        Files.writeString(c.resolve(Checkpoints.MANIFEST), "{\"schema\": 99}");
        assertThatThrownBy(() -> Checkpoints.load(c, false)).hasMessageContaining("schema 99");
        Path e = dir.resolve("empty");
        Files.createDirectories(e);
        assertThatThrownBy(() -> Checkpoints.load(e, false)).hasMessageContaining("no manifest.json");
    }

    @Test
    void resumingContinuesTheLineageTheScheduleAndTheCheckpointsSplit() throws Exception {
        Checkpoints.Loaded loaded = Checkpoints.load(checkpoint, true);
        // another holdout and seed than the checkpoint's: the run must keep the checkpoint's own split
        TrainingSettings s = TrainingSettings.builder().epochs(2).batchSize(32).holdout(64).seed(7).build();
        Trainer.Result r = new Trainer(s, null, null).resume(loaded, data);
        assertThat(r.manifest().version()).isEqualTo(2);
        assertThat(r.manifest().parentVersion()).isEqualTo(1);
        assertThat(r.manifest().parentSha256()).isEqualTo(Checkpoints.readManifest(checkpoint.resolve(Checkpoints.MANIFEST)).sha256());
        assertThat(r.history()).hasSize(2);
        assertThat(r.history().get(1).epoch()).isEqualTo(2);
        assertThat(r.manifest().normalization()).isEqualTo(trained.manifest().normalization());
        assertThat(r.manifest().training()).containsEntry("holdout", 32).containsEntry("split_seed", 42L)
                .containsEntry("mode", "resume");
        // 96 training images / 32 per batch = 3 steps per epoch: the budget of 2 epochs adds exactly 3 steps
        assertThat((Long) r.manifest().training().get("iterations")).isEqualTo(6L);
    }

    @Test
    void aRunStoppedAfterSomeEpochsIsASnapshotMidScheduleThatResumeContinues() throws Exception {
        // 96 training images / 32 = 3 steps per epoch; a 4-epoch schedule stopped after 1 epoch: 3 of 12 steps
        TrainingSettings s = TrainingSettings.builder().epochs(4).batchSize(32).holdout(32).warmupFraction(0)
                .stopAfterEpochs(1).build();
        Trainer.Result snap = new Trainer(s, null, null).train(Presets.get("crmn-tiny"), "snap", "crmn-tiny", data);
        assertThat(snap.history()).hasSize(1);
        assertThat(snap.manifest().training()).containsEntry("iterations", 3L);
        double lr = snap.history().get(0).learningRate();
        assertThat(lr).as("the learning rate where the snapshot stopped: still high, not annealed")
                .isGreaterThan(0.5 * s.learningRate());
        Path c = dir.resolve("snap");
        Checkpoints.write(c, snap.network(), snap.manifest());
        Trainer.Result resumed = new Trainer(TrainingSettings.builder().epochs(4).batchSize(32).holdout(32).warmupFraction(0)
                .build(), null, null).resume(Checkpoints.load(c, true), data);
        assertThat(resumed.history()).hasSize(4);
        assertThat(resumed.manifest().training()).containsEntry("iterations", 12L);
        assertThatThrownBy(() -> TrainingSettings.builder().stopAfterEpochs(-1).build())
                .isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void resumingARunWhoseBudgetIsUsedUpIsRefusedNotANewVersion() throws Exception {
        // the README's example after a longer run: --resume with a smaller epoch budget than already trained
        Checkpoints.Loaded loaded = Checkpoints.load(checkpoint, true);
        TrainingSettings s = TrainingSettings.builder().epochs(1).batchSize(32).holdout(32).build();
        assertThatThrownBy(() -> new Trainer(s, null, null).resume(loaded, data))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("nothing to resume")
                .hasMessageContaining("--more-epochs");
    }

    @Test
    void aCheckpointLoadsFromBytesAsFromItsDirectory() throws Exception {
        byte[] manifest = Files.readAllBytes(checkpoint.resolve(Checkpoints.MANIFEST));
        byte[] zip = Files.readAllBytes(checkpoint.resolve(Checkpoints.MODEL));
        Checkpoints.Loaded fromBytes = Checkpoints.load(manifest, zip, false);
        Checkpoints.Loaded fromDir = Checkpoints.load(checkpoint, false);
        assertThat(fromBytes.manifest()).isEqualTo(fromDir.manifest());
        assertThat(fromBytes.network().params()).isEqualTo(fromDir.network().params());
        try (var in1 = Files.newInputStream(checkpoint.resolve(Checkpoints.MANIFEST));
             var in2 = Files.newInputStream(checkpoint.resolve(Checkpoints.MODEL))) {
            assertThat(Checkpoints.load(in1, in2, true).network().params()).isEqualTo(fromDir.network().params());
        }
        zip[zip.length / 2] ^= 1;
        assertThatThrownBy(() -> Checkpoints.load(manifest, zip, false)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("SHA-256");
        assertThatThrownBy(() -> Checkpoints.load(manifest, java.util.Arrays.copyOf(zip, 100), false))
                .hasMessageContaining("truncated");
        assertThat(Checkpoints.toZipBytes(fromDir.network())).isNotEmpty();
    }

    @Test
    void aRunWithoutHoldoutRoundTripsItsNaNMetricsAndResumes() throws Exception {
        TrainingSettings s = TrainingSettings.builder().epochs(1).batchSize(32).holdout(0).build();
        Trainer.Result r = new Trainer(s, null, null).train(Presets.get("wrn-tiny"), "nohold", "wrn-tiny", data);
        assertThat(r.history().get(0).valAccuracy()).isNaN();
        Path c = dir.resolve("nohold");
        Checkpoints.write(c, r.network(), r.manifest());
        Checkpoints.Loaded loaded = Checkpoints.load(c, true);
        Trainer.Result resumed = new Trainer(TrainingSettings.builder().epochs(2).batchSize(32).holdout(0).build(), null, null)
                .resume(loaded, data);
        assertThat(resumed.history()).hasSize(2);
        assertThat(resumed.history().get(0).valAccuracy()).isNaN();
        assertThat(resumed.manifest().version()).isEqualTo(2);
    }

    @Test
    void normalisationIsComputedFromTheTrainingPartOnly() {
        ImageSet[] split = data.split(32, 42); // the run's holdout and (default) seed
        Normalization trainingPart = Normalization.compute(split[0]);
        assertThat(trained.manifest().normalization()).isEqualTo(trainingPart);
        assertThat(trained.manifest().normalization()).isNotEqualTo(Normalization.compute(data));
    }

    @Test
    void manifestsWithLabelsThatDoNotMatchTheArchitectureAreRefused() throws Exception {
        Manifest m = trained.manifest();
        assertThatThrownBy(() -> m.toBuilder().labels(List.of("a", "b")).build())
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("2 labels for a 10-class");
        Path c = copy("bad-labels");
        String json = Files.readString(c.resolve(Checkpoints.MANIFEST)).replace("\"airplane\",", "");
        Files.writeString(c.resolve(Checkpoints.MANIFEST), json);
        assertThatThrownBy(() -> Checkpoints.load(c, false)).hasMessageContaining("9 labels for a 10-class");
        Path d = copy("bad-normalisation");
        Manifest bad = m.toBuilder().normalization(new Normalization(new float[]{0.5f}, new float[]{0.2f}))
                .modelFile(Checkpoints.MODEL, Files.size(d.resolve(Checkpoints.MODEL)),
                        Checkpoints.sha256(d.resolve(Checkpoints.MODEL))).build();
        Checkpoints.writeManifest(d.resolve(Checkpoints.MANIFEST), bad);
        assertThatThrownBy(() -> Checkpoints.load(d, false)).hasMessageContaining("normalization has 1 channels");
    }

    @Test
    void aManifestWhoseNameOrModelFileIsNotAPlainFileNameIsRefused() throws Exception {
        Path c = copy("bad-names");
        String original = Files.readString(c.resolve(Checkpoints.MANIFEST));
        for (String[] bad : new String[][]{{"name", "../../etc"}, {"name", "a/b"}, {"name", ".."}, {"name", ""},
                {"model_file", "/etc/passwd"}, {"model_file", "../model.zip"}, {"model_file", "sub/model.zip"}}) {
            com.fasterxml.jackson.databind.node.ObjectNode n = (com.fasterxml.jackson.databind.node.ObjectNode)
                    Checkpoints.json().readTree(original);
            n.put(bad[0], bad[1]);
            Files.writeString(c.resolve(Checkpoints.MANIFEST), Checkpoints.json().writeValueAsString(n));
            assertThatThrownBy(() -> Checkpoints.load(c, false)).as("%s '%s'", bad[0], bad[1])
                    .isInstanceOf(CheckpointException.class).hasMessageContaining("a plain file name is expected");
        }
        Files.writeString(c.resolve(Checkpoints.MANIFEST), original);
        Checkpoints.load(c, false); // the original still loads
    }
}
