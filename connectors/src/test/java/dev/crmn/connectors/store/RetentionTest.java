package dev.crmn.connectors.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.connectors.cli.ModelsCommand;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.testutil.Checkpoints2;
import dev.crmn.model.checkpoint.Checkpoints;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class RetentionTest {

    @TempDir
    static java.nio.file.Path checkpoints;
    static final List<java.nio.file.Path> local = new ArrayList<>();

    @TempDir
    java.nio.file.Path dir;
    ModelStore store;
    final List<ModelRef> v = new ArrayList<>(); // v.get(i) is version i (v.get(0) unused)

    @BeforeAll
    static void nineVersions() throws Exception {
        local.add(null);
        for (long i = 1; i <= 9; i++) {
            local.add(Checkpoints2.tiny(checkpoints.resolve("v" + i), i, i == 1 ? null : i - 1));
        }
    }

    /**
     * A store as weeks of fine-tuning leave it: v1-v4 served in turn, v5 served and rolled back to v4, v6 a shadow
     * that was rejected, v7 serving, v8 a shadow being judged, v9 published and not yet announced.
     */
    @BeforeEach
    void lifecycle() throws Exception {
        store = new ModelStore(new Path(dir.resolve("store").toUri()), (byte[]) null);
        v.add(null);
        for (int i = 1; i <= 9; i++) {
            v.add(store.publish(local.get(i)));
        }
        for (int i = 1; i <= 5; i++) {
            store.recordServing(v.get(i), "promoted");
        }
        store.recordRollback(v.get(5), v.get(4), "live accuracy fell");
        store.recordStatus(v.get(6), ModelStatus.SHADOW, "announced as a shadow");
        store.recordStatus(v.get(6), ModelStatus.REJECTED, "worse than v4 on live traffic");
        store.recordServing(v.get(7), "promoted");
        store.recordStatus(v.get(8), ModelStatus.SHADOW, "announced as a shadow");
    }

    private Map<Long, Retention.Decision> plan(int keep, int keepServed) throws Exception {
        return Retention.plan(store, "tiny", keep, keepServed).stream()
                .collect(Collectors.toMap(d -> d.ref().version(), d -> d));
    }

    @Test
    void keepsTheNewestTheServingVersionItsShadowsWhatIsNewerAndTheRecentlyServed() throws Exception {
        Map<Long, Retention.Decision> p = plan(1, 2);
        assertThat(p.get(9L).reason()).isEqualTo("one of the newest 1");
        assertThat(p.get(8L).reason()).isEqualTo("a shadow being judged");
        assertThat(p.get(7L).reason()).isEqualTo("serving");
        assertThat(p.get(4L).reason()).as("served again after the rollback: the newest rollback target")
                .isEqualTo("one of the 2 most recently served (a rollback target)");
        assertThat(p.values().stream().filter(d -> !d.keep()).map(d -> d.ref().version()).sorted())
                .containsExactly(1L, 2L, 3L, 5L, 6L);
        assertThat(p.get(5L).status()).isEqualTo("rolled-back");
        assertThat(p.get(6L).status()).isEqualTo("rejected");
        assertThat(p.get(3L).reason()).isEqualTo("retired, older than the newest 1 and not among the 2 most recently served");

        Map<Long, Retention.Decision> wider = plan(4, 3);
        assertThat(wider.get(6L).keep()).as("one of the newest 4").isTrue();
        assertThat(wider.get(5L).reason()).as("served third most recently").contains("most recently served");
        assertThat(wider.values().stream().filter(d -> !d.keep()).map(d -> d.ref().version()).sorted())
                .containsExactly(1L, 2L, 3L);
    }

    @Test
    void aPrunedVersionStaysListedButCannotBeFetchedUnlessACacheHoldsIt() throws Exception {
        java.nio.file.Path cache = dir.resolve("cache");
        store.fetch(v.get(3), cache); // a TaskManager that served v3 holds it
        java.nio.file.Path v3 = java.nio.file.Path.of(java.net.URI.create(v.get(3).uri()));
        long size = Files.size(v3.resolve(Checkpoints.MODEL));
        ModelStore.Pruned first = store.prune(v.get(3), "test");

        assertThat(v3.resolve(Checkpoints.MODEL)).doesNotExist();
        assertThat(v3.resolve(Checkpoints.MANIFEST)).exists();
        assertThat(size).isPositive();
        assertThat(store.list("tiny")).hasSize(9);
        assertThat(store.status(v.get(3)).orElseThrow().value()).as("its history stays").isEqualTo(ModelStatus.RETIRED);
        assertThatThrownBy(() -> store.verify(v.get(3))).isInstanceOf(PrunedException.class)
                .hasMessageContaining("v3 were pruned from the store").hasMessageContaining("(test)");
        assertThatThrownBy(() -> store.fetch(v.get(3), dir.resolve("empty-cache")))
                .isInstanceOf(PrunedException.class).hasMessageContaining("can no longer be fetched");
        assertThat(dir.resolve("empty-cache")).isEmptyDirectory();
        assertThat(Checkpoints.load(store.fetch(v.get(3), cache), false).manifest().version())
                .as("the cached copy still loads").isEqualTo(3);

        assertThat(store.prune(v.get(3), "again")).as("pruning twice changes nothing").isEqualTo(first);
        assertThat(plan(1, 2).get(3L).alreadyPruned()).isTrue();
        assertThatThrownBy(() -> store.publish(Checkpoints2.tiny(dir.resolve("other-v3"), 3, 2L, 77)))
                .as("its number is never published again with other weights").isInstanceOf(VersionTakenException.class);
    }

    @Test
    void twoPrunesAtOnceAndAnInterruptedOneEndTheSame() throws Exception {
        ModelRef r2 = v.get(2);
        java.nio.file.Path v2 = java.nio.file.Path.of(java.net.URI.create(r2.uri()));
        // interrupted after its record, before the weights went
        Files.writeString(v2.resolve(ModelStore.PRUNED), "{\"at\":1,\"reason\":\"interrupted\"}");
        assertThatThrownBy(() -> store.verify(r2)).isInstanceOf(PrunedException.class).hasMessageContaining("interrupted");
        var pool = java.util.concurrent.Executors.newFixedThreadPool(2);
        try {
            var barrier = new java.util.concurrent.CyclicBarrier(2);
            List<java.util.concurrent.Future<Integer>> runs = new ArrayList<>();
            for (int t = 0; t < 2; t++) {
                runs.add(pool.submit(() -> {
                    barrier.await();
                    int n = 0;
                    for (Retention.Decision d : Retention.plan(store, "tiny", 1, 2)) {
                        if (!d.keep()) {
                            store.prune(d.ref(), "concurrent");
                            n++;
                        }
                    }
                    return n;
                }));
            }
            for (var r : runs) {
                assertThat(r.get()).isEqualTo(5);
            }
        } finally {
            pool.shutdownNow();
        }
        for (long gone : List.of(1L, 2L, 3L, 5L, 6L)) {
            java.nio.file.Path d = java.nio.file.Path.of(java.net.URI.create(v.get((int) gone).uri()));
            assertThat(d.resolve(Checkpoints.MODEL)).doesNotExist();
            assertThat(ModelStore.pruned(v.get((int) gone))).isPresent();
        }
        assertThat(ModelStore.pruned(r2).orElseThrow().reason()).as("the first record stays").isEqualTo("interrupted");
        for (long kept : List.of(4L, 7L, 8L, 9L)) {
            assertThat(store.verify(v.get((int) kept)).version()).isEqualTo(kept);
        }
    }

    /**
     * A reader looking while a prune writes its record sees the whole record or none. The record used to be created
     * and then filled, and a concurrent reader (the other prune of the test above, in CI) read an empty file: "No
     * content to map due to end-of-input". Before the change this failed within the first few dozen tries.
     */
    @Test
    void aReaderNeverSeesAHalfWrittenPruneRecord() throws Exception {
        ModelRef base = v.get(1);
        var pool = java.util.concurrent.Executors.newFixedThreadPool(1);
        try {
            for (int i = 0; i < 300; i++) {
                java.nio.file.Path d = Files.createDirectories(dir.resolve("race/v" + i));
                Files.write(d.resolve(Checkpoints.MODEL), new byte[] {1});
                ModelRef r = new ModelRef(base.schema(), base.name(), base.version(), ModelStore.uri(new Path(d.toUri())),
                        base.sha256(), base.metrics(), base.parentVersion(), base.parentSha256(), base.publishedAt());
                var pruning = pool.submit(() -> store.prune(r, "race " + r.uri()));
                java.util.Optional<ModelStore.Pruned> seen = java.util.Optional.empty();
                while (seen.isEmpty()) {
                    seen = ModelStore.pruned(r); // throws on a half-written record
                }
                assertThat(seen.get().reason()).isEqualTo("race " + r.uri());
                assertThat(pruning.get().reason()).isEqualTo("race " + r.uri());
                assertThat(d.resolve(Checkpoints.MODEL)).doesNotExist();
                try (var left = Files.list(d)) {
                    assertThat(left.map(f -> f.getFileName().toString())).as("no temporary file left behind")
                            .containsExactly(ModelStore.PRUNED);
                }
            }
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void refusesAMissingModelWithoutAServingVersionOrWithNothingToKeep() throws Exception {
        assertThatThrownBy(() -> Retention.plan(store, "nope", 1, 1)).isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("no published versions of nope");
        ModelStore fresh = new ModelStore(new Path(dir.resolve("fresh").toUri()), (byte[]) null);
        fresh.publish(local.get(1));
        assertThatThrownBy(() -> Retention.plan(fresh, "tiny", 1, 1)).isInstanceOf(java.io.IOException.class)
                .hasMessageContaining("no version of tiny is recorded as serving");
        assertThatThrownBy(() -> plan(0, 2)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--keep");
        assertThatThrownBy(() -> plan(1, 0)).isInstanceOf(IllegalArgumentException.class).hasMessageContaining("--keep-served");
    }

    @Test
    void theCommandPlansDeletesOnlyWhenAskedAndTheListingCountsPrunedVersionsAsNoProblem() throws Exception {
        String root = dir.resolve("store").toString();
        Cli dry = cli("prune", "--store", root, "--name", "tiny", "--keep", "1", "--keep-served", "2", "--dry-run", "--json");
        assertThat(dry.code).isZero();
        assertThat(dry.json.get("dry_run").asBoolean()).isTrue();
        assertThat(dry.json.get("pruned").asInt()).isEqualTo(5);
        assertThat(dry.json.get("bytes_freed").asLong()).isPositive();
        assertThat(store.list("tiny")).allSatisfy(r -> assertThat(ModelStore.pruned(r)).isEmpty());

        Cli real = cli("prune", "--store", root, "--name", "tiny", "--keep", "1", "--keep-served", "2", "--json");
        assertThat(real.code).isZero();
        assertThat(real.json.get("versions")).extracting(n -> n.get("version").asLong() + " " + n.get("action").asText())
                .containsExactly("1 pruned", "2 pruned", "3 pruned", "4 kept", "5 pruned", "6 pruned", "7 kept", "8 kept",
                        "9 kept");

        Cli again = cli("prune", "--store", root, "--name", "tiny", "--keep", "1", "--keep-served", "2", "--json");
        assertThat(again.json.get("pruned").asInt()).as("a second run has nothing left to do").isZero();
        assertThat(again.json.get("versions").get(0).get("action").asText()).isEqualTo("pruned before");

        Cli list = cli("--store", root, "--name", "tiny", "--json");
        assertThat(list.code).as("pruned weights are not damage").isZero();
        assertThat(list.json).extracting(n -> n.get("version").asLong() + " " + n.get("pruned").asBoolean() + " "
                + n.get("verified").asBoolean()).containsExactly("1 true false", "2 true false", "3 true false",
                "4 false true", "5 true false", "6 true false", "7 false true", "8 false true", "9 false true");

        Files.delete(java.nio.file.Path.of(java.net.URI.create(v.get(9).uri())).resolve(Checkpoints.MODEL));
        assertThat(cli("--store", root, "--name", "tiny", "--json").code).as("weights lost without a prune are").isEqualTo(1);
    }

    @Test
    void inASignedStoreAPrunedVersionsManifestIsStillVerified() throws Exception {
        byte[] key = "prune-key".getBytes(StandardCharsets.UTF_8);
        java.nio.file.Path keyFile = Files.write(dir.resolve("key"), key);
        ModelStore signed = new ModelStore(new Path(dir.resolve("signed").toUri()), key);
        ModelRef r1 = signed.publish(local.get(1));
        signed.publish(local.get(2));
        signed.prune(r1, "test");
        String root = dir.resolve("signed").toString();
        assertThat(cli("--store", root, "--name", "tiny", "--signing-key-file", keyFile.toString(), "--json").code).isZero();
        java.nio.file.Path manifest = java.nio.file.Path.of(java.net.URI.create(r1.uri())).resolve(Checkpoints.MANIFEST);
        Files.writeString(manifest, Files.readString(manifest).replace("\"val_accuracy\"", "\"val_accuracy\" "));
        Cli tampered = cli("--store", root, "--name", "tiny", "--signing-key-file", keyFile.toString(), "--json");
        assertThat(tampered.code).as("pruned, and its manifest no longer signed: damage").isEqualTo(1);
        assertThat(tampered.json.get(0).get("problem").asText()).contains("signature");
    }

    private record Cli(int code, JsonNode json) {
    }

    private static Cli cli(String... args) throws Exception {
        PrintStream out = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        int code;
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            code = new CommandLine(new ModelsCommand()).execute(args);
        } finally {
            System.setOut(out);
        }
        String text = buf.toString(StandardCharsets.UTF_8);
        return new Cli(code, text.isBlank() ? null : new ObjectMapper().readTree(text));
    }
}
