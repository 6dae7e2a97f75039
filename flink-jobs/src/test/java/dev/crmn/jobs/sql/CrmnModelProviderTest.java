package dev.crmn.jobs.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.data.CifarBinaryReader;
import dev.crmn.model.data.ImageBytes;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.infer.ClassScore;
import dev.crmn.model.infer.Classifier;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.CoreOptions;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;
import org.apache.flink.table.api.DataTypes;
import org.apache.flink.table.api.bridge.java.StreamTableEnvironment;
import org.apache.flink.types.Row;
import org.apache.flink.util.CloseableIterator;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The provider through Flink's own planner and async operator, on a MiniCluster: what ML_PREDICT returns against
 * what the model says for the same images, bad rows, a raw frame with its content type, and every refusal at
 * planning time.
 */
@Timeout(300) // a batch that never completes would hang the query: fail instead
class CrmnModelProviderTest {

    static final Path MODEL = Path.of("..", "models", "crmn-demo").toAbsolutePath().normalize();
    static final Path SAMPLE = Path.of("..", "data", "cifar10-sample", "test_batch.bin");
    static final int N = 40;

    @TempDir
    static Path dir;
    static List<PixelImage> images = new ArrayList<>();
    static List<List<ClassScore>> expected;

    @BeforeAll
    static void theModelsOwnAnswers() throws Exception {
        try (CifarBinaryReader r = CifarBinaryReader.open(SAMPLE, CifarBinaryReader.CifarFormat.CIFAR10)) {
            while (r.hasNext() && images.size() < N) {
                LabelledImage li = r.next();
                images.add(li.image());
            }
        }
        try (Classifier c = Classifier.load(MODEL)) {
            expected = c.topK(images, 3);
        }
    }

    @AfterAll
    static void done() {
        images.clear();
    }

    static StreamTableEnvironment tables(Map<String, String> settings) {
        Configuration conf = new Configuration();
        conf.set(CoreOptions.DEFAULT_PARALLELISM, 2);
        StreamTableEnvironment t = StreamTableEnvironment.create(StreamExecutionEnvironment.createLocalEnvironment(conf));
        settings.forEach((k, v) -> t.getConfig().getConfiguration().setString(k, v));
        return t;
    }

    static String model(String name, String input, String output, String options) {
        return "CREATE MODEL " + name + " INPUT (" + input + ") OUTPUT (" + output + ") WITH ('provider' = 'crmn', 'model' = '"
                + MODEL + "', 'store' = '" + dir.resolve("store") + "'" + options + ")";
    }

    static List<Row> collect(StreamTableEnvironment t, String query) throws Exception {
        List<Row> rows = new ArrayList<>();
        try (CloseableIterator<Row> it = t.executeSql(query).collect()) {
            it.forEachRemaining(rows::add);
        }
        return rows;
    }

    @Test
    void everyRowGetsWhatTheModelSaysForItsImageAndBadRowsGetNullsAndTheirReason() throws Exception {
        StreamTableEnvironment t = tables(Map.of());
        List<Row> in = new ArrayList<>();
        for (int i = 0; i < N; i++) {
            in.add(Row.of(i, ImageBytes.png(images.get(i))));
        }
        in.add(Row.of(-1, "not an image".getBytes()));
        in.add(Row.of(-2, null));
        t.createTemporaryView("frames", t.fromValues(DataTypes.ROW(DataTypes.FIELD("id", DataTypes.INT()),
                DataTypes.FIELD("image", DataTypes.BYTES())), in));
        t.executeSql(model("m", "image BYTES", "label STRING, class_index INT, probability FLOAT,"
                + " top_k ARRAY<ROW<label STRING, probability FLOAT>>, model_name STRING, model_version BIGINT, error STRING",
                ", 'batch-size' = '8', 'top-k' = '3'"));
        Map<Integer, Row> out = new HashMap<>();
        for (Row r : collect(t, "SELECT id, label, class_index, probability, top_k, model_name, model_version, error"
                + " FROM ML_PREDICT(TABLE frames, MODEL m, DESCRIPTOR(image))")) {
            assertThat(out.put((Integer) r.getField(0), r)).as("one row out per row in").isNull();
        }
        assertThat(out).hasSize(N + 2);
        for (int i = 0; i < N; i++) {
            Row r = out.get(i);
            ClassScore best = expected.get(i).get(0);
            assertThat(r.getField(1)).isEqualTo(best.label());
            assertThat(r.getField(2)).isEqualTo(best.index());
            assertThat((Float) r.getField(3)).isCloseTo(best.probability(), org.assertj.core.data.Offset.offset(1e-4f));
            Row[] top = (Row[]) r.getField(4);
            assertThat(top).hasSize(3);
            for (int k = 0; k < 3; k++) {
                assertThat(top[k].getField(0)).isEqualTo(expected.get(i).get(k).label());
            }
            assertThat(r.getField(5)).isEqualTo("crmn-demo");
            assertThat(r.getField(6)).isEqualTo(1L);
            assertThat(r.getField(7)).isNull();
        }
        Row junk = out.get(-1);
        assertThat(junk.getField(1)).isNull();
        assertThat(junk.getField(4)).isNull();
        assertThat(junk.getField(6)).isNull();
        assertThat((String) junk.getField(7)).startsWith("unknown-content-type:");
        assertThat((String) out.get(-2).getField(7)).startsWith("no-image:");
        assertThat(Thread.getAllStackTraces().keySet()).as("the function's threads end with the query")
                .noneMatch(th -> th.getName().startsWith("crmn-sql-"));
    }

    @Test
    void aRawFrameIsReadWithTheContentTypeColumnAndFullBatchesAreCappedAtTheOperatorsCapacity() throws Exception {
        // capacity 4, batch-size 64 and a deadline of ten minutes: only batches capped at 4 rows let this finish
        StreamTableEnvironment t = tables(Map.of("table.exec.async-ml-predict.max-concurrent-operations", "4"));
        PixelImage img = images.get(0);
        List<Row> in = new ArrayList<>();
        for (int i = 0; i < 8; i++) {
            in.add(Row.of(i, img.pixels(), "application/x-raw; format=rgb8; width=32; height=32"));
        }
        t.createTemporaryView("raw_frames", t.fromValues(DataTypes.ROW(DataTypes.FIELD("id", DataTypes.INT()),
                DataTypes.FIELD("image", DataTypes.BYTES()), DataTypes.FIELD("ct", DataTypes.STRING())), in));
        t.executeSql(model("r", "image BYTES, content_type STRING", "label STRING, probability DOUBLE",
                ", 'batch-size' = '64', 'max-delay-ms' = '600000'"));
        List<Row> out = collect(t, "SELECT id, label, probability FROM ML_PREDICT(TABLE raw_frames, MODEL r, DESCRIPTOR(image, ct))");
        assertThat(out).hasSize(8).allSatisfy(r -> {
            assertThat(r.getField(1)).isEqualTo(expected.get(0).get(0).label());
            assertThat((Double) r.getField(2)).isCloseTo(expected.get(0).get(0).probability(),
                    org.assertj.core.data.Offset.offset(1e-4));
        });
        // the same capacity given per query, in ML_PREDICT's config map, over a session allowing 256
        t.getConfig().getConfiguration().setString("table.exec.async-ml-predict.max-concurrent-operations", "256");
        assertThat(collect(t, "SELECT id FROM ML_PREDICT(TABLE raw_frames, MODEL r, DESCRIPTOR(image, ct),"
                + " MAP['max-concurrent-operations', '4'])")).hasSize(8);
    }

    @Test
    void whatCannotWorkIsRefusedWhenTheQueryIsPlannedNamingTheModelAndTheProblem() {
        StreamTableEnvironment t = tables(Map.of());
        t.createTemporaryView("frames", t.fromValues(DataTypes.ROW(DataTypes.FIELD("image", DataTypes.BYTES()),
                DataTypes.FIELD("n", DataTypes.INT())), List.of(Row.of(new byte[1], 1))));
        String query = "SELECT * FROM ML_PREDICT(TABLE frames, MODEL %s, DESCRIPTOR(%s))";
        t.executeSql(model("unknown_col", "image BYTES", "label STRING, score DOUBLE", ""));
        assertThatThrownBy(() -> t.executeSql(query.formatted("unknown_col", "image")))
                .hasStackTraceContaining("OUTPUT column score is not one a crmn model fills; choose from label STRING");
        t.executeSql(model("wrong_type", "image BYTES", "label INT", ""));
        assertThatThrownBy(() -> t.executeSql(query.formatted("wrong_type", "image")))
                .hasStackTraceContaining("OUTPUT column label must be STRING");
        t.executeSql(model("wrong_input", "image INT", "label STRING", ""));
        assertThatThrownBy(() -> t.executeSql(query.formatted("wrong_input", "n")))
                .hasStackTraceContaining("a crmn model takes INPUT (image BYTES)");
        t.executeSql(model("follow_alone", "image BYTES", "label STRING", ", 'follow' = 'model-updates'"));
        assertThatThrownBy(() -> t.executeSql(query.formatted("follow_alone", "image")))
                .hasStackTraceContaining("needs 'follow.bootstrap-servers'");
        t.executeSql(model("bad_batch", "image BYTES", "label STRING", ", 'batch-size' = '0'"));
        assertThatThrownBy(() -> t.executeSql(query.formatted("bad_batch", "image")))
                .hasStackTraceContaining("batch-size and top-k must be >= 1");
        t.executeSql("CREATE MODEL missing INPUT (image BYTES) OUTPUT (label STRING) WITH ('provider' = 'crmn',"
                + " 'model' = '" + dir.resolve("no-such-model") + "', 'store' = '" + dir.resolve("store") + "')");
        assertThatThrownBy(() -> t.executeSql(query.formatted("missing", "image")))
                .hasStackTraceContaining("no such checkpoint directory");
        t.executeSql(model("typo", "image BYTES", "label STRING", ", 'batchsize' = '8'"));
        assertThatThrownBy(() -> t.executeSql(query.formatted("typo", "image")))
                .hasStackTraceContaining("batchsize");
    }

    @Test
    void aSignedStoreServesItsSignedVersionsAndRefusesAnUnsignedCheckpoint() throws Exception {
        Path keyFile = java.nio.file.Files.writeString(dir.resolve("store.key"), "sql-test-secret\n");
        Path signedRoot = dir.resolve("signed-store");
        dev.crmn.connectors.store.ModelStore signed = new dev.crmn.connectors.store.ModelStore(
                new org.apache.flink.core.fs.Path(signedRoot.toUri()), dev.crmn.connectors.store.SigningKeys.resolve(keyFile));
        dev.crmn.connectors.format.ModelRef v1 = signed.publish(MODEL);
        StreamTableEnvironment t = tables(Map.of());
        t.createTemporaryView("frames", t.fromValues(DataTypes.ROW(DataTypes.FIELD("image", DataTypes.BYTES())),
                List.of(Row.of((Object) ImageBytes.png(images.get(0))))));
        String with = "'provider' = 'crmn', 'store' = '" + signedRoot + "', 'signing-key-file' = '" + keyFile + "'";
        t.executeSql("CREATE MODEL s INPUT (image BYTES) OUTPUT (label STRING, model_version INT) WITH (" + with
                + ", 'model' = '" + v1.uri() + "')");
        assertThat(collect(t, "SELECT label FROM ML_PREDICT(TABLE frames, MODEL s, DESCRIPTOR(image))"))
                .extracting(r -> r.getField(0)).containsExactly(expected.get(0).get(0).label());
        t.executeSql("CREATE MODEL u INPUT (image BYTES) OUTPUT (label STRING) WITH (" + with + ", 'model' = '" + MODEL + "')");
        assertThatThrownBy(() -> t.executeSql("SELECT label FROM ML_PREDICT(TABLE frames, MODEL u, DESCRIPTOR(image))"))
                .hasStackTraceContaining("cannot use 'model'");
    }
}
