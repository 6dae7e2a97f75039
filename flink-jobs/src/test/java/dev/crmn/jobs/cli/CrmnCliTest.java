package dev.crmn.jobs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import dev.crmn.jobs.testutil.Cli;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.testutil.TestData;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The launcher's subcommands and their --json contracts, run as a user would (in-process). */
class CrmnCliTest {

    static Cli.Run run(String... args) {
        return Cli.run(args);
    }

    @Test
    void aSecondCopyOfOneSqlScriptIsRefusedWhileTheFirstRunsAndStartsOnceItEnded(@org.junit.jupiter.api.io.TempDir
                                                                               java.nio.file.Path dir) throws Exception {
        java.nio.file.Path script = Files.writeString(dir.resolve("s.sql"), "SHOW TABLES;\n");
        try (java.nio.channels.FileChannel first = SqlCommand.lockScript(script)) {
            Cli.Run second = run("sql", "--file", script.toString());
            assertThat(second.code()).isEqualTo(2);
            assertThat(second.err()).contains("another crmn sql runs " + script);
        }
        Cli.Run after = run("sql", "--file", script.toString());
        assertThat(after.code()).as(after.err()).isZero();
        Cli.Run again = run("sql", "--file", script.toString());
        assertThat(again.code()).as("run twice: the lock went with the first run").isZero();
    }

    @Test
    void everySubcommandAnswersHelpAndNoPlaceholderIsLeftUnfilled() {
        for (String name : Crmn.commandLine().getSubcommands().keySet()) {
            Cli.Run help = run(name, "--help");
            assertThat(help.code()).as("crmn %s --help: %s", name, help.err()).isZero();
            assertThat(help.out()).as("crmn %s --help", name).isNotBlank().doesNotContain("null");
        }
    }

    @Test
    void noArgumentsListsTheSubcommands() {
        Cli.Run r = run();
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("train", "eval", "produce", "score", "broker", "publish", "models");
    }

    @Test
    void inferListsItsOptionsAndRefusesUnknownOnesBeforeTouchingKafka() {
        Cli.Run help = run("infer", "--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("--batch-size (default: 64)", "--max-delay-ms", "--checkpoint-interval-ms",
                "--model", "--store", "--duration", "--kafka.<property>=<value>");
        Cli.Run unknown = run("infer", "--bacth-size", "8");
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err().strip()).isEqualTo("infer: error: unknown option --bacth-size (--help lists them)");
        Cli.Run bad = run("infer", "--batch-size", "many");
        assertThat(bad.code()).isEqualTo(2);
        assertThat(bad.err()).contains("--batch-size: cannot read 'many'");
        Cli.Run offsets = run("infer", "--starting-offsets", "sometimes", "--bootstrap-servers", "127.0.0.1:1");
        assertThat(offsets.code()).isEqualTo(2);
        assertThat(offsets.err()).contains("--starting-offsets must be committed, earliest or latest");
    }

    @Test
    void finetuneRefusesAnUnknownGateTestANegativeMarginOrAnyRoundSettingOutOfRangeBeforeTouchingKafka() {
        Cli.Run gate = run("finetune", "--model", "crmn-demo", "--gate-test", "ttest", "--bootstrap-servers", "127.0.0.1:1");
        assertThat(gate.code()).isEqualTo(2);
        assertThat(gate.err().strip()).isEqualTo("finetune: error: --gate-test ttest: must be loss or mcnemar");
        Cli.Run margin = run("finetune", "--model", "crmn-demo", "--gate-test", "mcnemar", "--margin", "-1",
                "--bootstrap-servers", "127.0.0.1:1");
        assertThat(margin.code()).isEqualTo(2);
        assertThat(margin.err().strip()).isEqualTo("finetune: error: --margin -1.0: must be 0 or more points");
        // the other round settings too: before, they were checked after the broker, the lock and the store
        Cli.Run replicas = run("finetune", "--model", "crmn-demo", "--replicas", "3", "--bootstrap-servers", "127.0.0.1:1");
        assertThat(replicas.code()).isEqualTo(2);
        assertThat(replicas.err().strip()).isEqualTo("finetune: error: --replicas 3: must be a divisor of --batch-size 64"
                + " (each replica trains an equal share of a step)");
        Cli.Run patience = run("finetune", "--model", "crmn-demo", "--patience", "-1", "--bootstrap-servers", "127.0.0.1:1");
        assertThat(patience.code()).isEqualTo(2);
        assertThat(patience.err()).contains("--patience -1: must be 0").hasLineCount(1);
    }

    @Test
    void soakListsItsScheduleAndRefusesANonsenseOneBeforeStartingAnything() {
        Cli.Run help = run("soak", "--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("--minutes", "--swap-every", "--fail-every", "--frames-rate", "--json");
        Cli.Run zero = run("soak", "--minutes", "0");
        assertThat(zero.code()).isNotZero();
        assertThat(zero.err()).contains("--minutes").hasLineCount(1);
    }

    @Test
    void dataCommandsFindTheDataAndRefuseMistakesInOneLine(@TempDir Path dir) throws Exception {
        Cli.Run where = run("data", "where", "--json");
        assertThat(where.code()).as(where.err()).isZero();
        JsonNode w = new ObjectMapper().readTree(where.out());
        assertThat(Path.of(w.get("dir").asText()).resolve("test_batch.bin")).isRegularFile();
        assertThat(w.get("source").asText()).isIn("fetched", "../shared", "sample", "$CRMN_CIFAR10_DIR");
        Cli.Run unknown = run("data", "fetch", "imagenet");
        assertThat(unknown.code()).isEqualTo(2);
        assertThat(unknown.err().strip()).isEqualTo("fetch: error: unknown data set 'imagenet' (known: cifar10)");
        Cli.Run noFile = run("data", "fetch", "cifar10", "--to", dir.resolve("c").toString(), "--from",
                dir.resolve("nope.tar.gz").toString());
        assertThat(noFile.code()).isEqualTo(1);
        assertThat(noFile.err().strip()).startsWith("fetch: error: --from ").contains("no such file").doesNotContain("\n");
        // a bare file name comes from the data set the tools find; without --data, eval takes test_batch.bin
        Cli.Run bare = run("eval", "--model", "../models/crmn-demo", "--data", "test_batch.bin", "--limit", "20", "--json");
        assertThat(bare.code()).as(bare.err()).isZero();
        assertThat(new ObjectMapper().readTree(bare.out()).get("images").asInt()).isEqualTo(20);
        assertThat(bare.err()).contains("CIFAR-10:");
        Cli.Run none = run("eval", "--model", "../models/crmn-demo", "--limit", "20", "--json");
        assertThat(none.code()).as(none.err()).isZero();
        assertThat(new ObjectMapper().readTree(none.out()).get("data").asText()).contains("test_batch.bin");
        Cli.Run drifted = run("eval", "--model", "../models/crmn-demo", "--limit", "20", "--corrupt", "blur:5", "--json");
        assertThat(drifted.code()).as(drifted.err()).isZero();
        assertThat(new ObjectMapper().readTree(drifted.out()).get("data").asText()).endsWith(", blur:5 (seed 0)");
        Cli.Run fog = run("eval", "--model", "../models/crmn-demo", "--limit", "20", "--corrupt", "fog");
        assertThat(fog.code()).as("a usage error").isEqualTo(2);
        assertThat(fog.err()).contains("eval: error: --corrupt fog: unknown corruption 'fog'");
        Cli.Run missing = run("eval", "--model", "../models/crmn-demo", "--data", "data_batch_9.bin");
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("eval: error: data_batch_9.bin: not a file here, and not in");
    }

    @Test
    void userMistakesGetOneClearLine(@TempDir Path dir) {
        Cli.Run missing = run("eval", "--model", "../models/crmn-demo", "--data", dir.resolve("nope.bin").toString());
        assertThat(missing.code()).isNotZero();
        assertThat(missing.err().strip()).isEqualTo("eval: error: data " + dir.resolve("nope.bin") + " not found");
        Cli.Run preset = run("train", "--preset", "nope", "--data", dir.resolve("nope.bin").toString(), "--out",
                dir.resolve("o").toString());
        assertThat(preset.code()).isEqualTo(2);
        assertThat(preset.err()).as("the preset is checked before the data is read").contains("unknown preset 'nope'");
        Cli.Run steps = run("train", "--data", TestData.testBatch().toString(), "--steps", "3", "--out", dir.resolve("o").toString());
        assertThat(steps.code()).isEqualTo(2);
        assertThat(steps.err()).contains("--resume");
        // this build has no CUDA engine (the cuda13 profile adds it): said before any data or broker is touched
        Cli.Run cudaEval = run("eval", "--engine", "cuda", "--model", "../models/crmn-demo", "--data",
                dir.resolve("nope.bin").toString());
        assertThat(cudaEval.code()).isEqualTo(2);
        assertThat(cudaEval.err().strip()).isEqualTo("eval: error: --engine cuda: " + ClassifierOptions.NOT_BUILT);
        Cli.Run cudaInfer = run("infer", "--engine", "cuda", "--bootstrap-servers", "127.0.0.1:1");
        assertThat(cudaInfer.code()).isEqualTo(2);
        assertThat(cudaInfer.err()).contains("--engine cuda: " + ClassifierOptions.NOT_BUILT);
        Cli.Run unknown = run("eval", "--engine", "tensorrt", "--model", "../models/crmn-demo", "--data", "x.bin");
        assertThat(unknown.err()).contains("unknown engine 'tensorrt' (" + ClassifierOptions.NAMES + ")");
    }

    @Test
    void qualityListsItsOptionsRefusesBadOnesInOneLineAndSaysWhenNoBrokerAnswers() throws Exception {
        Cli.Run help = run("quality", "--help");
        assertThat(help.code()).isZero();
        assertThat(help.out()).contains("--min-labelled", "--alpha", "--max-label-delay", "--labels-topic",
                "--checkpoint-dir", "--duration", "--json");
        Cli.Run alpha = run("quality", "--alpha", "1.5", "--bootstrap-servers", "127.0.0.1:9");
        assertThat(alpha.code()).isEqualTo(2);
        assertThat(alpha.err().strip()).isEqualTo("quality: error: --min-labelled must be >= 1 and --alpha in (0, 1)");
        Cli.Run down = run("quality", "--bootstrap-servers", "127.0.0.1:9");
        assertThat(down.code()).isEqualTo(1);
        assertThat(down.err()).contains("cannot reach Kafka at 127.0.0.1:9");
    }

    @Test
    void submitChecksTheJobAndItsOptionsFirstAndSaysWhenNoJobManagerAnswers() throws Exception {
        int port;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0)) {
            port = s.getLocalPort(); // nothing listens there afterwards
        }
        String rest = "--rest-url=http://127.0.0.1:" + port;
        Cli.Run job = run("submit", "training", rest);
        assertThat(job.code()).isEqualTo(2);
        assertThat(job.err().strip()).isEqualTo("submit: error: unknown job 'training' (inference, finetune or quality)");
        Cli.Run option = run("submit", "finetune", rest, "--round-step", "5");
        assertThat(option.code()).isEqualTo(2);
        assertThat(option.err().strip()).isEqualTo("submit: error: unknown option --round-step (--help lists them)");
        Cli.Run qualityOption = run("submit", "quality", rest, "--min-labeled", "5");
        assertThat(qualityOption.code()).isEqualTo(2);
        assertThat(qualityOption.err().strip()).isEqualTo("submit: error: unknown option --min-labeled (--help lists them)");
        Cli.Run down = run("submit", "inference", rest, "--wait-seconds=1", "--bootstrap-servers", "127.0.0.1:9");
        assertThat(down.code()).isEqualTo(1);
        assertThat(down.err().strip()).isEqualTo("submit: error: no Flink JobManager answers at http://127.0.0.1:" + port
                + " (waited 1 s)");
        Cli.Run stopJob = run("stop", "training", rest, "--savepoint-dir", "/tmp/sp");
        assertThat(stopJob.code()).isEqualTo(2);
        assertThat(stopJob.err().strip()).isEqualTo("stop: error: unknown job 'training' (inference, finetune or quality)");
        Cli.Run stopDir = run("stop", "inference", rest);
        assertThat(stopDir.code()).isEqualTo(2);
        assertThat(stopDir.err()).contains("--savepoint-dir");
        Cli.Run stopDown = run("stop", "inference", rest, "--savepoint-dir", "/tmp/sp");
        assertThat(stopDown.code()).isEqualTo(1);
        assertThat(stopDown.err()).startsWith("stop: error: no Flink JobManager answers at http://127.0.0.1:" + port);
    }

    @Test
    void exportWritesAnOnnxFileTwiceTheSameAndRefusesWhatItCannotDo(@TempDir Path dir) throws Exception {
        Path out = dir.resolve("sub").resolve("crmn-demo.onnx");
        Cli.Run r = run("export", "--model", "../models/crmn-demo", "--out", out.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.json().get("model").asText()).isEqualTo("crmn-demo");
        assertThat(r.json().get("bytes").asLong()).isEqualTo(Files.size(out)).isGreaterThan(100_000);
        assertThat(r.json().get("input").get("name").asText()).isEqualTo("pixels");
        byte[] first = Files.readAllBytes(out);
        Cli.Run again = run("export", "--model", "../models/crmn-demo", "--out", out.toString());
        assertThat(again.code()).isZero();
        assertThat(Files.readAllBytes(out)).as("the same checkpoint exports to the same bytes").isEqualTo(first);
        try (var files = Files.list(out.getParent())) {
            assertThat(files.map(p -> p.getFileName().toString())).containsExactly("crmn-demo.onnx"); // no temp file left
        }
        Cli.Run format = run("export", "--model", "../models/crmn-demo", "--format", "tflite", "--out", out.toString());
        assertThat(format.code()).isEqualTo(2);
        assertThat(format.err().strip()).isEqualTo("export: error: unknown --format 'tflite' (onnx)");
        Cli.Run missing = run("export", "--model", dir.resolve("nope").toString(), "--out", dir.resolve("x.onnx").toString());
        assertThat(missing.code()).isEqualTo(1);
        assertThat(missing.err()).contains("does not exist");
        assertThat(dir.resolve("x.onnx")).doesNotExist();
    }

    @Test
    void aCifarFileWithoutItsNamesFileIsMatchedToTheModelByClassCount(@TempDir Path dir) throws Exception {
        Path bare = dir.resolve("test_batch.bin"); // no batches.meta.txt beside it
        try (var in = Files.newInputStream(TestData.testBatch())) {
            Files.write(bare, in.readNBytes(3073 * 200));
        }
        Cli.Run r = run("eval", "--model", "../models/crmn-demo", "--data", bare.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.err()).contains("no batches.meta.txt").contains("by index");
        assertThat(r.json().get("images").asInt()).isEqualTo(200);
        assertThat(r.json().get("labels").get(0).asText()).isEqualTo("airplane");
    }

    @Test
    void evalSkipsImagesThatDoNotDecodeUnlessStrict(@TempDir Path dir) throws Exception {
        dev.crmn.model.data.ImageSet cifar = dev.crmn.model.data.ImageSet.load(java.util.List.of(TestData.testBatch()), 4);
        for (int i = 0; i < cifar.size(); i++) {
            Path cls = Files.createDirectories(dir.resolve(cifar.classNames().get(cifar.label(i))));
            Files.write(cls.resolve("img" + i + ".png"), dev.crmn.model.data.ImageBytes.png(cifar.image(i)));
        }
        Path broken = dir.resolve(cifar.classNames().get(cifar.label(0))).resolve("broken.png");
        Files.write(broken, new byte[]{(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10, 0, 0});
        Files.writeString(dir.resolve(cifar.classNames().get(cifar.label(0))).resolve("notes.txt"), "x");
        Cli.Run r = run("eval", "--model", "../models/crmn-demo", "--data", dir.toString(), "--json");
        assertThat(r.code()).as(r.err()).isZero();
        assertThat(r.json().get("images").asInt()).isEqualTo(4);
        assertThat(r.json().get("skipped").get("corrupt").asInt()).isEqualTo(1);
        assertThat(r.err()).contains("broken.png").contains("ignored 1 file(s) that are not");
        Cli.Run strict = run("eval", "--model", "../models/crmn-demo", "--data", dir.toString(), "--strict");
        assertThat(strict.code()).isNotZero();
        assertThat(strict.err()).contains("broken.png");
    }

    @Test
    void resumeRefusesAnEmptyRunAndFineTuningTrainsTheStepsItSays(@TempDir Path dir) throws Exception {
        Path ck = dir.resolve("v1");
        Cli.Run t = run("train", "--preset", "crmn-tiny", "--data", TestData.trainBatch1().toString(), "--limit", "160",
                "--holdout", "32", "--epochs", "1", "--batch-size", "32", "--seed", "5", "--out", ck.toString(),
                "--log-dir", dir.resolve("logs").toString(), "--json");
        assertThat(t.code()).as(t.err()).isZero();
        assertThat(java.nio.file.Files.getPosixFilePermissions(ck)).as("checkpoints are readable by the group")
                .contains(java.nio.file.attribute.PosixFilePermission.GROUP_READ,
                        java.nio.file.attribute.PosixFilePermission.GROUP_EXECUTE);
        // the README's example after a longer run: the budget is used up, so nothing would be trained
        Cli.Run resume = run("train", "--resume", ck.toString(), "--epochs", "1", "--data", TestData.trainBatch1().toString(),
                "--limit", "160", "--out", dir.resolve("v2").toString(), "--log-dir", dir.resolve("logs2").toString());
        assertThat(resume.code()).isNotZero();
        assertThat(resume.err()).contains("nothing to resume");
        assertThat(dir.resolve("v2")).doesNotExist();
        Cli.Run more = run("train", "--resume", ck.toString(), "--epochs", "2", "--data", TestData.trainBatch1().toString(),
                "--limit", "160", "--out", dir.resolve("v2").toString(), "--log-dir", dir.resolve("logs2").toString(), "--json");
        assertThat(more.code()).as(more.err()).isZero();
        assertThat(more.json().get("iterations").asLong()).isEqualTo(8); // 128 training images / 32 = 4 per epoch
        assertThat(more.err()).contains("continuing the run").contains("seed 5");
        Cli.Run ft = run("train", "--resume", ck.toString(), "--steps", "3", "--batch-size", "16", "--data",
                TestData.trainBatch1().toString(), "--limit", "160", "--out", dir.resolve("ft").toString(), "--json");
        assertThat(ft.code()).as(ft.err()).isZero();
        assertThat(ft.json().get("mode").asText()).isEqualTo("fine-tune");
        assertThat(ft.json().get("steps").asLong()).isEqualTo(3);
        assertThat(ft.json().get("version").asLong()).isEqualTo(2);
        assertThat(ft.json().get("parent_version").asLong()).isEqualTo(1);
        assertThat(ft.json().get("metrics").has("holdout_accuracy")).isTrue();
    }

    @Test
    void helpListsEverySubcommand() {
        Cli.Run r = run("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("info", "train", "eval", "bench", "produce", "score", "broker", "publish", "models",
                "submit", "stop");
    }

    @Test
    void infoJsonHasParamsAndMacs() throws Exception {
        Cli.Run r = run("info", "--preset", "wrn-16-4", "--json");
        assertThat(r.code()).isZero();
        JsonNode j = r.json();
        assertThat(j.get("params").asLong()).isBetween(2_646_000L, 2_754_000L);
        assertThat(j.get("macs").asLong()).isPositive();
        assertThat(j.get("layers").size()).isGreaterThan(20);
        assertThat(run("info", "--preset", "nope").code()).isNotZero();
    }

    @Test
    void trainThenEvalWithJsonOutputs(@TempDir Path dir) throws Exception {
        Path ck = dir.resolve("ck");
        Cli.Run t = run("train", "--preset", "crmn-tiny", "--data", TestData.trainBatch1().toString(), "--limit", "192",
                "--holdout", "64", "--epochs", "1", "--batch-size", "32", "--out", ck.toString(),
                "--log-dir", dir.resolve("logs").toString(), "--json");
        assertThat(t.code()).isZero();
        assertThat(t.json().get("version").asLong()).isEqualTo(1);
        assertThat(t.json().get("sha256").asText()).hasSize(64);
        assertThat(ck.resolve("manifest.json")).exists();
        assertThat(ck.resolve("training-curves.png")).exists();
        assertThat(dir.resolve("logs").resolve("metrics.json")).exists();
        assertThat(Files.readAllBytes(ck.resolve("training-curves.png"))).startsWith(0x89, 'P', 'N', 'G');
        Cli.Run e = run("eval", "--model", ck.toString(), "--data", TestData.testBatch().toString(), "--limit", "100", "--json");
        assertThat(e.code()).isZero();
        JsonNode j = e.json();
        assertThat(j.get("images").asInt()).isEqualTo(100);
        assertThat(j.get("accuracy").asDouble()).isBetween(0.0, 1.0);
        assertThat(j.get("top5").asDouble()).isGreaterThanOrEqualTo(j.get("accuracy").asDouble());
        assertThat(j.get("per_class_accuracy").size()).isEqualTo(10);
        assertThat(j.get("confusion_matrix").size()).isEqualTo(10);
        long total = 0;
        for (JsonNode row : j.get("confusion_matrix")) {
            for (JsonNode c : row) {
                total += c.asLong();
            }
        }
        assertThat(total).isEqualTo(100);
        assertThat(run("train", "--preset", "crmn-tiny", "--data", TestData.trainBatch1().toString(), "--out", ck.toString())
                .code()).as("refuses to overwrite a checkpoint").isNotZero();
    }

    @Test
    void benchJsonHasOneEntryPerBatch() throws Exception {
        Cli.Run r = run("bench", "--preset", "crmn-tiny", "--batches", "1,4", "--seconds", "0.2", "--no-baseline", "--json");
        assertThat(r.code()).isZero();
        JsonNode j = r.json();
        assertThat(j.get("matmul_gflops").asDouble()).isPositive();
        assertThat(j.get("results")).hasSize(2);
        for (JsonNode e : j.get("results")) {
            assertThat(e.has("batch")).isTrue();
            assertThat(e.get("images_per_s").asDouble()).isPositive();
            assertThat(e.get("gflops").asDouble()).isPositive();
            assertThat(e.has("cuda_images_per_s")).isFalse();
        }
        assertThat(j.get("cuda").asText()).isEqualTo("not measured: " + ClassifierOptions.NOT_BUILT);
        assertThat(j.get("results").get(1).get("batch").asInt()).isEqualTo(4);
    }
}
