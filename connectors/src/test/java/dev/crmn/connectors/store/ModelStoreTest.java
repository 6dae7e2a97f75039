package dev.crmn.connectors.store;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.testutil.Checkpoints2;
import dev.crmn.model.checkpoint.CheckpointException;
import dev.crmn.model.checkpoint.Checkpoints;
import java.io.RandomAccessFile;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.apache.flink.core.fs.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ModelStoreTest {

    @TempDir
    static java.nio.file.Path dir;
    static java.nio.file.Path v1;
    static java.nio.file.Path v2;
    static java.nio.file.Path otherV1;

    @BeforeAll
    static void checkpoints() throws Exception {
        v1 = Checkpoints2.tiny(dir.resolve("local-v1"), 1, null);
        v2 = Checkpoints2.tiny(dir.resolve("local-v2"), 2, 1L);
        otherV1 = Checkpoints2.tiny(dir.resolve("local-other-v1"), 1, null, 99); // same version, other weights
    }

    private static ModelStore store(String name, byte[] key) {
        return new ModelStore(new Path(dir.resolve(name).toUri()), key);
    }

    /** v1's model.zip in a directory of its own, under v1's manifest as {@code edit} changes it. */
    private static java.nio.file.Path v1WithManifest(String name,
            java.util.function.Consumer<com.fasterxml.jackson.databind.node.ObjectNode> edit) throws Exception {
        java.nio.file.Path d = Files.createDirectories(dir.resolve(name));
        Files.copy(v1.resolve(Checkpoints.MODEL), d.resolve(Checkpoints.MODEL));
        com.fasterxml.jackson.databind.ObjectMapper json = new com.fasterxml.jackson.databind.ObjectMapper();
        com.fasterxml.jackson.databind.node.ObjectNode m = (com.fasterxml.jackson.databind.node.ObjectNode)
                json.readTree(v1.resolve(Checkpoints.MANIFEST).toFile());
        edit.accept(m);
        json.writeValue(d.resolve(Checkpoints.MANIFEST).toFile(), m);
        return d;
    }

    /** The cache entry of a published version: named by its manifest's bytes. */
    private static String entry(ModelRef r) throws java.io.IOException {
        return ModelStore.cacheKey(r, Files.readAllBytes(local(r).resolve(Checkpoints.MANIFEST)));
    }

    private static java.nio.file.Path local(ModelRef r) {
        return java.nio.file.Path.of(java.net.URI.create(r.uri()));
    }

    @Test
    void publishListResolveLatestAndFetchVerified() throws Exception {
        ModelStore store = store("store", null);
        assertThat(store.latest("tiny")).isEmpty();
        ModelRef r1 = store.publish(v1);
        ModelRef r2 = store.publish(v2);
        assertThat(store.list("tiny")).extracting(ModelRef::version).containsExactly(1L, 2L);
        assertThat(store.latest("tiny")).contains(r2);
        assertThat(r2.parentVersion()).isEqualTo(1L);
        assertThat(r1.sha256()).isEqualTo(Checkpoints.sha256(v1.resolve(Checkpoints.MODEL)));
        assertThat(r1.uri()).startsWith("file:///").endsWith("/tiny/v1/");
        assertThat(ModelStore.refAt(r2.uri())).isEqualTo(r2);
        java.nio.file.Path local = store.fetch(r2, dir.resolve("cache"));
        assertThat(local).isEqualTo(dir.resolve("cache").resolve(entry(r2)));
        assertThat(Checkpoints.load(local, false).manifest().version()).isEqualTo(2);
        try (var s = Files.list(dir.resolve("store").resolve("tiny"))) {
            assertThat(s.map(p -> p.getFileName().toString())).noneMatch(n -> n.startsWith("."));
        }
    }

    @Test
    void oneVersionNamesOneCheckpointAndARetriedPublishIsANoOp() throws Exception {
        ModelStore store = store("idempotent", null);
        ModelRef first = store.publish(v1);
        assertThat(store.publish(v1)).as("the same bytes again").isEqualTo(first);
        assertThatThrownBy(() -> store.publish(otherV1)).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("already published").hasMessageContaining("another checkpoint");
        assertThat(store.list("tiny")).containsExactly(first);
    }

    @Test
    void racingPublishersOfOneVersionLeaveExactlyOneCheckpoint() throws Exception {
        // 20 races: the losing rename can fail in two ways, one of them in about 2 % of races (Flink's local
        // rename throws instead of answering false when the winner lands between its check and its move)
        for (int round = 0; round < 20; round++) {
            race(store("race-" + round, null));
        }
    }

    private void race(ModelStore store) throws Exception {
        List<java.nio.file.Path> sources = List.of(v1, otherV1, v1, otherV1);
        CyclicBarrier start = new CyclicBarrier(sources.size());
        ExecutorService pool = Executors.newFixedThreadPool(sources.size());
        try {
            List<Future<ModelRef>> results = new ArrayList<>();
            for (java.nio.file.Path src : sources) {
                results.add(pool.submit(() -> {
                    start.await();
                    return store.publish(src);
                }));
            }
            Set<String> published = new java.util.HashSet<>();
            int refused = 0;
            for (Future<ModelRef> f : results) {
                try {
                    published.add(f.get().sha256());
                } catch (java.util.concurrent.ExecutionException e) {
                    assertThat(e.getCause()).isInstanceOf(CheckpointException.class);
                    refused++;
                }
            }
            assertThat(published).hasSize(1);
            assertThat(refused).isEqualTo(2); // the two copies of the losing checkpoint
            assertThat(store.list("tiny")).hasSize(1).allMatch(r -> published.contains(r.sha256()));
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void concurrentFetchesShareOneVerifiedCacheEntry() throws Exception {
        ModelStore store = store("concurrent", null);
        ModelRef r = store.publish(v2);
        java.nio.file.Path cache = dir.resolve("shared-cache");
        int threads = 8;
        CyclicBarrier start = new CyclicBarrier(threads);
        ExecutorService pool = Executors.newFixedThreadPool(threads);
        try {
            List<Future<java.nio.file.Path>> results = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                Callable<java.nio.file.Path> fetch = () -> {
                    start.await();
                    return store.fetch(r, cache);
                };
                results.add(pool.submit(fetch));
            }
            for (Future<java.nio.file.Path> f : results) {
                assertThat(f.get()).isEqualTo(cache.resolve(entry(r)));
            }
        } finally {
            pool.shutdownNow();
        }
        try (var s = Files.list(cache)) {
            assertThat(s.map(p -> p.getFileName().toString()).collect(Collectors.toList())).containsExactly(entry(r));
        }
        Checkpoints.verifyFile(cache.resolve(entry(r)).resolve(Checkpoints.MODEL),
                Checkpoints.readManifest(cache.resolve(entry(r)).resolve(Checkpoints.MANIFEST)));
        // a later fetch reuses the entry (no copy: the file is the same one)
        Object inode = Files.readAttributes(cache.resolve(entry(r)).resolve(Checkpoints.MODEL), BasicFileAttributes.class).fileKey();
        store.fetch(r, cache);
        assertThat(Files.readAttributes(cache.resolve(entry(r)).resolve(Checkpoints.MODEL), BasicFileAttributes.class)
                .fileKey()).isEqualTo(inode);
    }

    @Test
    void twoVersionsWithTheSameWeightsFetchedAtOnceEachGetTheirOwnEntry() throws Exception {
        ModelStore store = store("reversioned", null);
        // v2: v1's model.zip under a manifest that says version 2 (what `crmn publish` of a copied checkpoint makes)
        java.nio.file.Path same = v1WithManifest("local-v2-same-weights", m -> m.put("version", 2));
        ModelRef r1 = store.publish(v1);
        ModelRef r2 = store.publish(same);
        assertThat(r2.sha256()).as("v2 re-versions v1's weights").isEqualTo(r1.sha256());
        java.nio.file.Path cache = dir.resolve("reversioned-cache");
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            for (int round = 0; round < 20; round++) { // what two subtasks swapping at once do, again and again
                CyclicBarrier start = new CyclicBarrier(4);
                List<Future<java.nio.file.Path>> results = new ArrayList<>();
                for (int i = 0; i < 4; i++) {
                    ModelRef r = i % 2 == 0 ? r1 : r2;
                    results.add(pool.submit(() -> {
                        start.await();
                        java.nio.file.Path local = store.fetch(r, cache);
                        Checkpoints.load(local, false); // readable while the other version is fetched beside it
                        return local;
                    }));
                }
                for (int i = 0; i < 4; i++) {
                    java.nio.file.Path local = results.get(i).get();
                    assertThat(Checkpoints.readManifest(local.resolve(Checkpoints.MANIFEST)).version()).isEqualTo(i % 2 + 1);
                }
            }
        } finally {
            pool.shutdownNow();
        }
        try (var s = Files.list(cache)) {
            assertThat(s.map(p -> p.getFileName().toString()).collect(Collectors.toList()))
                    .containsExactlyInAnyOrder(entry(r1), entry(r2));
        }
    }

    @Test
    void oneVersionWithTheSameWeightsUnderAnotherManifestGetsItsOwnEntry() throws Exception {
        // two stores (an old one and its rebuild) hold tiny v1 with the same weights; the rebuild's manifest differs
        ModelStore old = store("rebuilt-old", null);
        ModelStore rebuilt = store("rebuilt-new", null);
        java.nio.file.Path relabelled = v1WithManifest("local-v1-other-manifest",
                m -> m.putObject("metrics").put("test_accuracy", 0.5));
        ModelRef a = old.publish(v1);
        ModelRef b = rebuilt.publish(relabelled);
        assertThat(b.sha256()).isEqualTo(a.sha256());
        assertThat(b.displayName()).isEqualTo(a.displayName());
        java.nio.file.Path cache = dir.resolve("rebuilt-cache");
        java.nio.file.Path fromOld = old.fetch(a, cache);
        java.nio.file.Path fromRebuilt = rebuilt.fetch(b, cache);
        assertThat(fromRebuilt).isNotEqualTo(fromOld);
        assertThat(Files.readAllBytes(fromRebuilt.resolve(Checkpoints.MANIFEST)))
                .isEqualTo(Files.readAllBytes(local(b).resolve(Checkpoints.MANIFEST)));
    }

    @Test
    void aCorruptedCacheEntryIsFetchedAgain() throws Exception {
        ModelStore store = store("recache", null);
        ModelRef r = store.publish(v1);
        java.nio.file.Path cache = dir.resolve("cache-corrupt");
        java.nio.file.Path entry = store.fetch(r, cache);
        flipByte(entry.resolve(Checkpoints.MODEL));
        assertThat(store.fetch(r, cache)).isEqualTo(entry);
        Checkpoints.load(entry, false); // verifies again
    }

    @Test
    void fetchChecksTheManifestAgainstTheReference() throws Exception {
        ModelStore store = store("mismatch", null);
        ModelRef r = store.publish(v1);
        ModelRef wrongVersion = new ModelRef(r.schema(), r.name(), 7, r.uri(), r.sha256(), r.metrics(), null, null, 0);
        assertThatThrownBy(() -> store.fetch(wrongVersion, dir.resolve("cache-mismatch")))
                .isInstanceOf(CheckpointException.class).hasMessageContaining("the reference says tiny v7");
        ModelRef wrongName = new ModelRef(r.schema(), "other", 1, r.uri(), r.sha256(), r.metrics(), null, null, 0);
        assertThatThrownBy(() -> store.fetch(wrongName, dir.resolve("cache-mismatch")))
                .hasMessageContaining("the reference says other v1");
        assertThat(dir.resolve("cache-mismatch")).as("refused on the store's manifest, before anything is copied")
                .doesNotExist();
    }

    @Test
    void aTamperedPublishedFileIsRefused() throws Exception {
        ModelStore store = store("tamper", null);
        ModelRef r = store.publish(v1);
        flipByte(local(r).resolve(Checkpoints.MODEL));
        assertThatThrownBy(() -> store.fetch(r, dir.resolve("fetched-tampered"))).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("SHA-256");
        ModelRef forged = new ModelRef(r.schema(), r.name(), r.version(), r.uri(), "00".repeat(32), r.metrics(), null, null, 0);
        assertThatThrownBy(() -> store.fetch(forged, dir.resolve("fetched-forged"))).hasMessageContaining("the reference says");
    }

    @Test
    void signaturesCoverTheStoredManifestBytes() throws Exception {
        byte[] key = "s3cret".getBytes(StandardCharsets.UTF_8);
        ModelStore signed = store("signed", key);
        ModelRef r = signed.publish(v1);
        java.nio.file.Path published = local(r);
        assertThat(Files.readString(published.resolve(ModelStore.SIGNATURE)))
                .as("the signing key's id, then the MAC").matches("sha256:[0-9a-f]{16} [0-9a-f]{64}\n");
        signed.fetch(r, dir.resolve("signed-ok"));
        ModelStore otherKey = new ModelStore(signed.root(), "other".getBytes(StandardCharsets.UTF_8));
        assertThatThrownBy(() -> otherKey.fetch(r, dir.resolve("signed-bad"))).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("is signed with key " + Keyring.id(key)).hasMessageContaining("does not hold");
        ModelRef unsigned = store("unsigned", null).publish(v2);
        assertThatThrownBy(() -> signed.fetch(unsigned, dir.resolve("unsigned"))).hasMessageContaining("not signed");

        // A manifest written by a newer version, with a field this one does not know, signed by its writer: verifies.
        java.nio.file.Path manifest = published.resolve(Checkpoints.MANIFEST);
        String original = Files.readString(manifest);
        String extended = original.replaceFirst("\\{", "{\n  \"future_field\" : {\"x\" : 1},");
        Files.writeString(manifest, extended);
        Files.writeString(published.resolve(ModelStore.SIGNATURE), signed.sign(extended.getBytes(StandardCharsets.UTF_8)));
        assertThat(signed.fetch(r, dir.resolve("signed-extended"))).exists();
        // One changed byte (a metric edited after signing) does not.
        Files.writeString(manifest, extended.replace("\"val_accuracy\" : 0.1", "\"val_accuracy\" : 0.9"));
        assertThat(Files.readString(manifest)).isNotEqualTo(extended);
        assertThatThrownBy(() -> signed.fetch(r, dir.resolve("signed-edited"))).hasMessageContaining("wrong signature");
    }

    @Test
    void keysRotate() throws Exception {
        byte[] oldKey = "old-key".getBytes(StandardCharsets.UTF_8);
        byte[] newKey = "new-key".getBytes(StandardCharsets.UTF_8);
        ModelStore before = store("rotating", oldKey);
        ModelRef r1 = before.publish(v1);
        // rotation: the new key signs, the old one still verifies what it signed
        ModelStore during = new ModelStore(before.root(), new Keyring(List.of(newKey, oldKey)));
        ModelRef r2 = during.publish(v2);
        during.fetch(r1, dir.resolve("rotating-1"));
        during.fetch(r2, dir.resolve("rotating-2"));
        assertThat(Files.readString(local(r2).resolve(ModelStore.SIGNATURE))).startsWith(Keyring.id(newKey) + " ");
        // the old key retired: what it signed is refused, naming the key
        ModelStore after = new ModelStore(before.root(), newKey);
        after.fetch(r2, dir.resolve("rotating-after-2"));
        assertThatThrownBy(() -> after.fetch(r1, dir.resolve("rotating-after-1"))).isInstanceOf(CheckpointException.class)
                .hasMessageContaining("signed with key " + Keyring.id(oldKey)).hasMessageContaining("does not hold");
        assertThatThrownBy(() -> after.verify(r1)).hasMessageContaining("signed with key " + Keyring.id(oldKey));
        // a signature written before key ids (the hex MAC alone) verifies against any key held
        String legacy = Files.readString(local(r1).resolve(ModelStore.SIGNATURE)).strip().split(" ")[1];
        Files.writeString(local(r1).resolve(ModelStore.SIGNATURE), legacy);
        during.fetch(r1, dir.resolve("rotating-legacy"));
        assertThatThrownBy(() -> after.fetch(r1, dir.resolve("rotating-legacy-after"))).hasMessageContaining("wrong signature");
    }

    @Test
    void latestAndPublishReadOnlyTheVersionsTheyNeed() throws Exception {
        ModelStore store = store("indexed", null);
        ModelRef r1 = store.publish(v1);
        ModelRef r2 = store.publish(v2);
        // v1's manifest made unreadable (a store weeks old, a half-deleted version): no reader of the newest meets it
        Files.writeString(local(r1).resolve(Checkpoints.MANIFEST), "{ not json");
        assertThat(store.latest("tiny")).contains(r2);
        assertThat(store.find("tiny", 2)).contains(r2);
        assertThat(store.publish(v2)).as("publishing v2 again reads v2 alone").isEqualTo(r2);
        assertThat(store.list("tiny")).as("a full listing skips what it cannot read").containsExactly(r2);
        // a newest version that cannot be read is passed over by latest, not fatal
        java.nio.file.Path broken = Files.createDirectories(local(r2).getParent().resolve("v9"));
        Files.writeString(broken.resolve(Checkpoints.MANIFEST), "{ not json");
        assertThat(store.latest("tiny")).contains(r2);
        assertThat(store.find("tiny", 9)).isEmpty();
    }

    @Test
    void statusesAreRecordedWithTimeAndReasonAndOnlySignedOnesCountInASignedStore() throws Exception {
        byte[] key = "status-key".getBytes(StandardCharsets.UTF_8);
        ModelStore store = store("statuses", key);
        ModelRef r1 = store.publish(v1);
        ModelRef r2 = store.publish(v2);
        assertThat(store.status(r1)).as("published, never announced").isEmpty();
        store.recordServing(r1, "announced");
        store.recordServing(r2, "promoted");
        assertThat(store.status(r1).orElseThrow()).satisfies(c -> {
            assertThat(c.value()).isEqualTo(ModelStatus.RETIRED);
            assertThat(c.reason()).isEqualTo("replaced by v2");
        });
        ModelStatus.Change rolledBack = store.recordStatus(r2, ModelStatus.ROLLED_BACK,
                "live accuracy 71.0 % on 400 labelled vs 80.2 % for v1, p = 0.0001");
        assertThat(store.statusHistory(r2)).extracting(ModelStatus.Change::status).containsExactly("serving", "rolled-back");
        assertThat(store.status(r2)).contains(rolledBack);
        assertThat(rolledBack.value().usable()).isFalse();
        // a record written without the key (whoever can write files) does not clear the mark
        java.nio.file.Path statusDir = local(r2).getParent().resolve("status").resolve("v2");
        Files.writeString(statusDir.resolve("9999999999999-serving-forged.json"),
                "{\"status\":\"serving\",\"at\":9999999999999,\"reason\":\"forged\"}");
        assertThat(store.status(r2)).contains(rolledBack);
        assertThat(new ModelStore(store.root(), (byte[]) null).status(r2).orElseThrow().reason())
                .as("an unsigned reader sees every record").isEqualTo("forged");
        assertThat(store.list("tiny")).as("the status directory is not a version").hasSize(2);
    }

    @Test
    void changesRecordedWithinOneMillisecondKeepTheirOrder() throws Exception {
        ModelStore store = store("same-millisecond", null);
        ModelRef r1 = store.publish(v1);
        List<ModelStatus> order = new ArrayList<>();
        for (int i = 0; i < 20; i++) { // names sort "rejected" before "shadow": only the times can keep the order
            order.add(ModelStatus.SHADOW);
            order.add(ModelStatus.REJECTED);
        }
        for (ModelStatus s : order) {
            store.recordStatus(r1, s, "in a tight loop");
        }
        assertThat(store.statusHistory(r1)).extracting(ModelStatus.Change::value).containsExactlyElementsOf(order);
        assertThat(store.status(r1).orElseThrow().value()).isEqualTo(ModelStatus.REJECTED);
        // a record dated far ahead does not drag the genuine ones' times after it
        java.nio.file.Path statusDir = local(r1).getParent().resolve("status").resolve("v1");
        Files.writeString(statusDir.resolve("9999999999999-serving-forged.json"),
                "{\"status\":\"serving\",\"at\":9999999999999,\"reason\":\"forged\"}");
        long before = System.currentTimeMillis();
        assertThat(store.recordStatus(r1, ModelStatus.RETIRED, "now").at()).isBetween(before, before + 60_000);
    }

    @Test
    void aStoreGivenAsAPlainPathIsAnAbsoluteFileUri() {
        assertThat(ModelStore.rootUri("runs/store")).startsWith("file:///")
                .endsWith("/runs/store").contains(java.nio.file.Path.of("").toAbsolutePath().toString());
        assertThat(ModelStore.rootUri("s3://bucket/models")).isEqualTo("s3://bucket/models");
        assertThat(ModelStore.rootUri("file:///x/y")).isEqualTo("file:///x/y");
    }

    private static void flipByte(java.nio.file.Path file) throws Exception {
        try (RandomAccessFile f = new RandomAccessFile(file.toFile(), "rw")) {
            f.seek(f.length() / 2);
            int b = f.read();
            f.seek(f.length() / 2);
            f.write(b ^ 1);
        }
    }
}
