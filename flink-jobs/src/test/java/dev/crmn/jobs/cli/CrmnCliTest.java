package dev.crmn.jobs.cli;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
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

    record Run(int code, String out) {
        JsonNode json() throws Exception {
            return new ObjectMapper().readTree(out);
        }
    }

    static synchronized Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        PrintStream old = System.out;
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = Crmn.commandLine().execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8));
        } finally {
            System.setOut(old);
        }
    }

    @Test
    void helpListsEverySubcommand() {
        Run r = run("--help");
        assertThat(r.code()).isZero();
        assertThat(r.out()).contains("info", "train", "eval", "bench", "produce", "score", "broker", "publish", "models");
    }

    @Test
    void infoJsonHasParamsAndMacs() throws Exception {
        Run r = run("info", "--preset", "wrn-16-4", "--json");
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
        Run t = run("train", "--preset", "crmn-tiny", "--data", TestData.trainBatch1().toString(), "--limit", "192",
                "--holdout", "64", "--epochs", "1", "--batch-size", "32", "--out", ck.toString(),
                "--log-dir", dir.resolve("logs").toString(), "--json");
        assertThat(t.code()).isZero();
        assertThat(t.json().get("version").asLong()).isEqualTo(1);
        assertThat(t.json().get("sha256").asText()).hasSize(64);
        assertThat(ck.resolve("manifest.json")).exists();
        assertThat(ck.resolve("training-curves.png")).exists();
        assertThat(dir.resolve("logs").resolve("metrics.json")).exists();
        assertThat(Files.readAllBytes(ck.resolve("training-curves.png"))).startsWith(0x89, 'P', 'N', 'G');
        Run e = run("eval", "--model", ck.toString(), "--data", TestData.testBatch().toString(), "--limit", "100", "--json");
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
        Run r = run("bench", "--preset", "crmn-tiny", "--batches", "1,4", "--seconds", "0.2", "--no-baseline", "--json");
        assertThat(r.code()).isZero();
        JsonNode j = r.json();
        assertThat(j.get("matmul_gflops").asDouble()).isPositive();
        assertThat(j.get("results")).hasSize(2);
        for (JsonNode e : j.get("results")) {
            assertThat(e.has("batch")).isTrue();
            assertThat(e.get("images_per_s").asDouble()).isPositive();
            assertThat(e.get("gflops").asDouble()).isPositive();
        }
        assertThat(j.get("results").get(1).get("batch").asInt()).isEqualTo(4);
    }
}
