package dev.crmn.connectors.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.model.infer.ClassScore;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.java.typeutils.GenericTypeInfo;
import org.apache.flink.api.java.typeutils.PojoTypeInfo;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.record.TimestampType;
import org.junit.jupiter.api.Test;

class WireFormatTest {

    static Prediction prediction() {
        return new Prediction(PredictionJson.CURRENT_SCHEMA, "f-1", "cam-7", new Prediction.Source("frames", 1, 42),
                new ClassScore[]{new ClassScore(3, "cat", 0.9f), new ClassScore(5, "dog", 0.05f)},
                new Prediction.ModelInfo("crmn-demo", 2, "ab".repeat(32)), 16, new Prediction.Timings(1.5, 20.25, 33.0),
                1_700_000_000_000L, 3, 1_700_000_000_123L);
    }

    @Test
    void predictionRoundTripsWithTheContractFieldNames() throws Exception {
        Prediction p = prediction();
        byte[] bytes = PredictionJson.toBytes(p);
        assertThat(PredictionJson.fromBytes(bytes)).isEqualTo(p);
        JsonNode json = new ObjectMapper().readTree(bytes);
        assertThat(json.fieldNames()).toIterable().contains("schema", "frame_id", "key", "source", "top_k", "model",
                "batch_size", "timings_ms");
        assertThat(json.get("source").fieldNames()).toIterable().containsExactly("topic", "partition", "offset");
        assertThat(json.get("top_k").get(0).fieldNames()).toIterable().containsExactlyInAnyOrder("index", "label", "probability");
        assertThat(json.get("model").fieldNames()).toIterable().containsExactly("name", "version", "sha256");
        assertThat(json.get("timings_ms").fieldNames()).toIterable().containsExactly("queue", "inference", "end_to_end");
        assertThat(json.get("top_k").get(0).get("label").asText()).isEqualTo("cat");
    }

    @Test
    void predictionReaderAcceptsAddedFieldsAndRefusesUnknownSchemas() throws Exception {
        String withExtra = new String(PredictionJson.toBytes(prediction()), StandardCharsets.UTF_8)
                .replace("{\"schema\":1,", "{\"schema\":1,\"future_field\":{\"x\":1},");
        assertThat(PredictionJson.fromBytes(withExtra.getBytes(StandardCharsets.UTF_8)).frameId()).isEqualTo("f-1");
        assertThatThrownBy(() -> PredictionJson.fromBytes("{\"schema\":9}".getBytes())).isInstanceOf(IOException.class)
                .hasMessageContaining("schema 9");
        assertThatThrownBy(() -> PredictionJson.fromBytes("[1]".getBytes())).isInstanceOf(IOException.class);
    }

    @Test
    void modelRefRoundTripsAndNeedsItsCoreFields() throws Exception {
        ModelRef r = new ModelRef(ModelRefJson.CURRENT_SCHEMA, "crmn-demo", 4, "file:///store/crmn-demo/v4-abc",
                "cd".repeat(32), Map.of("val_accuracy", 0.8), 3L, "ef".repeat(32), 123L);
        assertThat(ModelRefJson.fromBytes(ModelRefJson.toBytes(r))).isEqualTo(r);
        JsonNode json = new ObjectMapper().readTree(ModelRefJson.toBytes(r));
        assertThat(json.fieldNames()).toIterable().contains("schema", "name", "version", "uri", "sha256", "metrics", "parent_version",
                "parent_sha256");
        assertThatThrownBy(() -> ModelRefJson.fromBytes("{\"schema\":1,\"name\":\"x\"}".getBytes()))
                .hasMessageContaining("needs name, uri and sha256");
        assertThatThrownBy(() -> ModelRefJson.fromBytes("{\"schema\":2}".getBytes())).hasMessageContaining("schema 2");
    }

    @Test
    void deadLetterKeepsTheOriginalRecordAndAddsTheReason() {
        Frame f = Frame.of("frames", 2, 99, "cam".getBytes(), new byte[]{1, 2, 3}, Headers.CONTENT_TYPE, "image/png",
                "x-custom", "kept");
        DeadLetter d = new DeadLetter(f, DeadLetterReason.UNDECODABLE_IMAGE, "cannot decode PNG");
        ProducerRecord<byte[], byte[]> rec = d.toRecord("dead-letters");
        assertThat(rec.key()).isEqualTo("cam".getBytes());
        assertThat(rec.value()).containsExactly(1, 2, 3);
        assertThat(new String(rec.headers().lastHeader(Headers.ERROR_REASON).value())).isEqualTo("undecodable-image");
        assertThat(new String(rec.headers().lastHeader(Headers.SOURCE_OFFSET).value())).isEqualTo("99");
        assertThat(new String(rec.headers().lastHeader("x-custom").value())).isEqualTo("kept");
        RecordHeaders h = new RecordHeaders(rec.headers().toArray());
        ConsumerRecord<byte[], byte[]> consumed = new ConsumerRecord<>("dead-letters", 0, 5, 0L, TimestampType.CREATE_TIME,
                3, 3, rec.key(), rec.value(), h, java.util.Optional.empty());
        DeadLetter back = DeadLetter.fromRecord(consumed);
        assertThat(back.reason()).isEqualTo(DeadLetterReason.UNDECODABLE_IMAGE);
        assertThat(back.detail()).isEqualTo("cannot decode PNG");
        assertThat(back.original()).isEqualTo(f);
    }

    @Test
    void deadLetterReasonsHaveStableWireNames() {
        assertThat(DeadLetterReason.UNKNOWN_CONTENT_TYPE.wireName()).isEqualTo("unknown-content-type");
        assertThat(DeadLetterReason.TOO_LARGE.wireName()).isEqualTo("too-large");
        for (DeadLetterReason r : DeadLetterReason.values()) {
            assertThat(DeadLetterReason.fromWireName(r.wireName())).isEqualTo(r);
        }
    }

    /** What a consumer would read back for a produced record. */
    static ConsumerRecord<byte[], byte[]> consumed(ProducerRecord<byte[], byte[]> rec, long offset) {
        return new ConsumerRecord<>(rec.topic(), 0, offset, 77L, TimestampType.CREATE_TIME, -1, -1, rec.key(), rec.value(),
                new RecordHeaders(rec.headers().toArray()), java.util.Optional.empty());
    }

    static <T> java.util.List<T> collect(org.apache.flink.connector.kafka.source.reader.deserializer.KafkaRecordDeserializationSchema<T> schema,
                                         ConsumerRecord<byte[], byte[]> r) throws Exception {
        java.util.List<T> out = new java.util.ArrayList<>();
        schema.deserialize(r, new org.apache.flink.util.Collector<T>() {
            @Override
            public void collect(T record) {
                out.add(record);
            }

            @Override
            public void close() {
            }
        });
        return out;
    }

    @Test
    void flinkSchemasRoundTripEveryFormat() throws Exception {
        var frames = new dev.crmn.connectors.kafka.FrameDeserializationSchema();
        Frame f = new Frame("frames", 0, 5, 77L, "k".getBytes(), new byte[]{9, 8}, new String[]{"content-type", "x"},
                new byte[][]{"image/png".getBytes(), "y".getBytes()});
        assertThat(collect(frames, consumed(new dev.crmn.connectors.kafka.FrameSerializationSchema("frames")
                .serialize(f, null, null), 5))).containsExactly(f);
        Prediction p = prediction();
        ProducerRecord<byte[], byte[]> pr = new dev.crmn.connectors.kafka.PredictionSerializationSchema("predictions")
                .serialize(p, null, null);
        assertThat(new String(pr.key())).isEqualTo("cam-7");
        assertThat(new String(pr.headers().lastHeader(Headers.FRAME_ID).value())).isEqualTo("f-1");
        assertThat(collect(new dev.crmn.connectors.kafka.PredictionDeserializationSchema(), consumed(pr, 0)))
                .containsExactly(p);
        DeadLetter d = new DeadLetter(f, DeadLetterReason.TOO_LARGE, "big");
        assertThat(collect(new dev.crmn.connectors.kafka.DeadLetterDeserializationSchema(),
                consumed(new dev.crmn.connectors.kafka.DeadLetterSerializationSchema("dead-letters").serialize(d, null, null), 0)))
                .containsExactly(d);
        ModelRef r = new ModelRef(1, "m", 2, "file:///x/", "ab".repeat(32), Map.of(), null, null, 5);
        ProducerRecord<byte[], byte[]> mr = new dev.crmn.connectors.kafka.ModelRefSerializationSchema("model-updates")
                .serialize(r, null, null);
        assertThat(new String(mr.key())).isEqualTo("m");
        assertThat(collect(new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema(), consumed(mr, 0)))
                .containsExactly(ModelUpdate.serve(r));
        // a rollback: the same value (what consumers without actions read as "serve v2"), its action in headers
        ModelUpdate back = ModelUpdate.rollback(r, 3, "live accuracy 70.1 % vs 80.3 %, p = 0.0002");
        ProducerRecord<byte[], byte[]> rb = dev.crmn.connectors.kafka.ModelRefSerializationSchema.record("model-updates", back);
        assertThat(rb.value()).isEqualTo(mr.value());
        assertThat(new String(rb.headers().lastHeader(ModelUpdate.ACTION_HEADER).value())).isEqualTo("rollback");
        assertThat(collect(new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema(), consumed(rb, 1)))
                .containsExactly(back);
        assertThat(ModelRefJson.fromBytes(rb.value())).as("what a build without actions reads").isEqualTo(r);
        // a shadow and its rejection: keyed <name>/shadow (compaction keeps the serve record under <name>), a schema-2
        // value that a build without actions refuses (so it never serves a shadow)
        for (ModelUpdate u : java.util.List.of(ModelUpdate.shadow(r, "candidate"), ModelUpdate.reject(r, "worse"))) {
            ProducerRecord<byte[], byte[]> sh = dev.crmn.connectors.kafka.ModelRefSerializationSchema.record("model-updates", u);
            assertThat(new String(sh.key())).isEqualTo("m/shadow");
            assertThat(new String(sh.headers().lastHeader(ModelUpdate.ACTION_HEADER).value())).isEqualTo(u.action().wireName());
            assertThat(collect(new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema(), consumed(sh, 4)))
                    .containsExactly(u);
            org.assertj.core.api.Assertions.assertThatThrownBy(() -> ModelRefJson.fromBytes(sh.value()))
                    .as("what a build without actions reads: an unknown schema, skipped").hasMessageContaining("schema 2");
        }
        // an action this build does not know is skipped, never read as "serve"
        ProducerRecord<byte[], byte[]> future = dev.crmn.connectors.kafka.ModelRefSerializationSchema.record("model-updates", r);
        future.headers().add(ModelUpdate.ACTION_HEADER, "canary".getBytes());
        assertThat(collect(new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema(), consumed(future, 2))).isEmpty();
        ProducerRecord<byte[], byte[]> noTarget = dev.crmn.connectors.kafka.ModelRefSerializationSchema.record("model-updates", r);
        noTarget.headers().add(ModelUpdate.ACTION_HEADER, "rollback".getBytes());
        assertThat(collect(new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema(), consumed(noTarget, 3))).isEmpty();
        // Garbage on the control and prediction topics is skipped, never thrown.
        ProducerRecord<byte[], byte[]> junk = new ProducerRecord<>("t", null, "junk".getBytes());
        assertThat(collect(new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema(), consumed(junk, 0))).isEmpty();
        assertThat(collect(new dev.crmn.connectors.kafka.PredictionDeserializationSchema(), consumed(junk, 0))).isEmpty();
        assertThat(collect(new dev.crmn.connectors.kafka.DeadLetterDeserializationSchema(), consumed(junk, 0))).isEmpty();
    }

    @Test
    void recordsFlowingThroughFlinkArePojosNotKryo() {
        // ModelRef travels in broadcast and operator state, Prediction between operators: no Kryo anywhere inside
        for (Class<?> c : new Class<?>[]{Frame.class, DecodedFrame.class, DeadLetter.class, ModelRef.class, Prediction.class,
                ModelUpdate.class}) {
            assertNoGenericTypes(TypeInformation.of(c), c.getSimpleName());
        }
    }

    private static void assertNoGenericTypes(TypeInformation<?> t, String path) {
        assertThat(t).as(path).isNotInstanceOf(GenericTypeInfo.class);
        if (t instanceof PojoTypeInfo<?> pojo) {
            for (int i = 0; i < pojo.getArity(); i++) {
                assertNoGenericTypes(pojo.getTypeAt(i), path + "." + pojo.getPojoFieldAt(i).getField().getName());
            }
        } else if (t instanceof org.apache.flink.api.java.typeutils.ObjectArrayTypeInfo<?, ?> array) {
            assertNoGenericTypes(array.getComponentInfo(), path + "[]");
        } else if (t instanceof org.apache.flink.api.java.typeutils.MapTypeInfo<?, ?> map) {
            assertNoGenericTypes(map.getKeyTypeInfo(), path + ".key");
            assertNoGenericTypes(map.getValueTypeInfo(), path + ".value");
        } else if (t instanceof org.apache.flink.api.java.typeutils.ListTypeInfo<?> list) {
            assertNoGenericTypes(list.getElementTypeInfo(), path + "[]");
        }
    }

    @Test
    void skippingSchemasCountWhatTheySkipAndLetDownstreamFailuresThrough() throws Exception {
        var schema = new dev.crmn.connectors.kafka.ModelUpdateDeserializationSchema();
        assertThat(collect(schema, consumed(new ProducerRecord<>("t", null, "junk".getBytes()), 0))).isEmpty();
        assertThat(collect(schema, consumed(new ProducerRecord<>("t", "m".getBytes(), null), 1))).isEmpty();
        assertThat(schema.skippedCount()).isEqualTo(1);
        assertThat(schema.tombstoneCount()).isEqualTo(1);
        ModelRef r = new ModelRef(1, "m", 2, "file:///x/", "ab".repeat(32), Map.of(), null, null, 5);
        ProducerRecord<byte[], byte[]> good = new dev.crmn.connectors.kafka.ModelRefSerializationSchema("model-updates")
                .serialize(r, null, null);
        org.apache.flink.util.Collector<ModelUpdate> failing = new org.apache.flink.util.Collector<>() {
            @Override
            public void collect(ModelUpdate record) {
                throw new IllegalStateException("downstream failure");
            }

            @Override
            public void close() {
            }
        };
        assertThatThrownBy(() -> schema.deserialize(consumed(good, 2), failing)).hasMessage("downstream failure");
        assertThat(schema.skippedCount()).as("a downstream failure is not a skipped record").isEqualTo(1);
        // a dead letter of a frame that had no value is a real dead letter, not a tombstone
        Frame empty = new Frame("frames", 0, 5, 77L, null, null, new String[0], new byte[0][]);
        var dl = new dev.crmn.connectors.kafka.DeadLetterDeserializationSchema();
        DeadLetter d = new DeadLetter(empty, DeadLetterReason.EMPTY_VALUE, "no bytes");
        assertThat(collect(dl, consumed(new dev.crmn.connectors.kafka.DeadLetterSerializationSchema("dead-letters")
                .serialize(d, null, null), 0))).containsExactly(d);
    }
}
