package dev.crmn.connectors.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.connectors.format.ModelRef;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.serialization.SerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.util.UserCodeClassLoader;
import org.junit.jupiter.api.Test;

class GatedSerializationSchemaTest {

    static KafkaRecordSerializationSchema.KafkaSinkContext subtask(int index) {
        return new KafkaRecordSerializationSchema.KafkaSinkContext() {
            @Override
            public int getParallelInstanceId() {
                return index;
            }

            @Override
            public int getNumberOfParallelInstances() {
                return 4;
            }

            @Override
            public int[] getPartitionsForTopic(String topic) {
                return new int[] {0};
            }
        };
    }

    static final SerializationSchema.InitializationContext INIT = new SerializationSchema.InitializationContext() {
        @Override
        public MetricGroup getMetricGroup() {
            throw new UnsupportedOperationException();
        }

        @Override
        public UserCodeClassLoader getUserCodeClassLoader() {
            throw new UnsupportedOperationException();
        }
    };

    @Test
    void theGateIsPassedWhenTheWriterOpensItsSerializerAndTheRecordsAreTheSchemasOwn() throws Exception {
        List<Integer> passed = new ArrayList<>();
        ModelRefSerializationSchema plain = new ModelRefSerializationSchema("model-updates");
        GatedSerializationSchema<ModelRef> gated = new GatedSerializationSchema<>(plain, passed::add);
        assertThat(passed).as("nothing waits before the writer opens it").isEmpty();
        gated.open(INIT, subtask(3));
        assertThat(passed).containsExactly(3);
        ModelRef r = new ModelRef(1, "crmn-demo", 2, "file:/store/crmn-demo/v2", "abc", java.util.Map.of(), 1L, "def", 5L);
        assertThat(gated.serialize(r, subtask(3), null).value()).isEqualTo(plain.serialize(r, subtask(3), null).value());
        assertThat(gated.getKafkaDatasetFacet()).as("the pooled transaction naming needs the topic")
                .isEqualTo(plain.getKafkaDatasetFacet()).isPresent();
    }

    @Test
    void aGateThatRefusesFailsTheOpenWithItsReason() {
        GatedSerializationSchema<ModelRef> gated = new GatedSerializationSchema<>(
                new ModelRefSerializationSchema("model-updates"), s -> {
                    throw new IllegalStateException("held by another copy");
                });
        assertThatThrownBy(() -> gated.open(INIT, subtask(0))).hasMessage("held by another copy");
    }

    @Test
    void theSinksTakeAGate() {
        KafkaOptions kafka = KafkaOptions.of("b:1");
        assertThat(CrmnKafka.predictionSink(kafka, "p", org.apache.flink.connector.base.DeliveryGuarantee.EXACTLY_ONCE,
                "x", SinkGate.OPEN)).isNotNull();
    }
}
