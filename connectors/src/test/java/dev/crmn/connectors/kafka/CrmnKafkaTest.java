package dev.crmn.connectors.kafka;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.junit.jupiter.api.Test;

class CrmnKafkaTest {

    final KafkaOptions kafka = new KafkaOptions("broker:9093", Map.of("security.protocol", "SASL_SSL", "client.id", "x"));

    @Test
    void exactlyOnceSinksNeedATransactionalIdPrefix() {
        assertThatThrownBy(() -> CrmnKafka.predictionSink(kafka, "predictions", DeliveryGuarantee.EXACTLY_ONCE, null))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("transactional id prefix");
        assertThatThrownBy(() -> CrmnKafka.deadLetterSink(kafka, "dead-letters", DeliveryGuarantee.EXACTLY_ONCE, " "))
                .isInstanceOf(IllegalArgumentException.class);
        assertThat(CrmnKafka.predictionSink(kafka, "predictions", DeliveryGuarantee.EXACTLY_ONCE, "crmn-predictions")).isNotNull();
        assertThat(CrmnKafka.modelUpdatesSink(kafka, "model-updates", DeliveryGuarantee.AT_LEAST_ONCE, null)).isNotNull();
    }

    @Test
    void everyClientGetsTheUsersPropertiesAndProducersABrokerCompatibleTransactionTimeout() {
        Properties c = CrmnKafka.consumerProperties(kafka);
        assertThat(c).containsEntry("security.protocol", "SASL_SSL").containsEntry("client.id", "x")
                .doesNotContainKey("bootstrap.servers");
        Properties p = CrmnKafka.producerProperties(kafka);
        assertThat(p).containsEntry("security.protocol", "SASL_SSL")
                .containsEntry("transaction.timeout.ms", CrmnKafka.DEFAULT_TRANSACTION_TIMEOUT_MS);
        assertThat(Long.parseLong(CrmnKafka.DEFAULT_TRANSACTION_TIMEOUT_MS)).as("below the broker's 15-minute maximum")
                .isLessThanOrEqualTo(15 * 60 * 1000L);
        KafkaOptions own = new KafkaOptions("b:1", Map.of("transaction.timeout.ms", "90000"));
        assertThat(CrmnKafka.producerProperties(own)).containsEntry("transaction.timeout.ms", "90000");
        assertThat(CrmnKafka.frameSource(kafka, List.of("frames"), "g")).isNotNull();
    }

    @Test
    void sourcesReadOnlyCommittedRecordsWhateverTheUserPassed() {
        KafkaOptions kafka = new KafkaOptions("b:1", Map.of("security.protocol", "SASL_SSL"));
        assertThat(CrmnKafka.sourceProperties(kafka)).containsEntry("isolation.level", "read_committed")
                .containsEntry("security.protocol", "SASL_SSL").doesNotContainKey("bootstrap.servers");
        assertThat(CrmnKafka.consumerProperties(kafka)).as("tools that choose for themselves").doesNotContainKey("isolation.level");
    }

    @Test
    void propertiesTheJobsOwnAreRefusedInOneLineAndOthersPassed() {
        for (String key : KafkaOptions.JOB_OWNED.keySet()) {
            assertThatThrownBy(() -> KafkaOptions.refuseJobOwned(Map.of(key, "x")))
                    .isInstanceOf(IllegalArgumentException.class)
                    .hasMessageStartingWith("--kafka." + key + " is set by the job, not configurable (")
                    .hasMessageNotContaining("\n");
        }
        assertThat(KafkaOptions.JOB_OWNED).containsKeys("enable.auto.commit", "isolation.level", "group.instance.id",
                "transactional.id");
        KafkaOptions.refuseJobOwned(Map.of("security.protocol", "SSL", "transaction.timeout.ms", "90000",
                "client.id", "cam"));
    }

    @Test
    void clientPropertiesParseFromFlags() {
        assertThat(KafkaOptions.parse(List.of("--kafka.a=1", "--kafka.b", "2"))).containsEntry("a", "1").containsEntry("b", "2");
        assertThatThrownBy(() -> KafkaOptions.parse(List.of("--nope"))).hasMessageContaining("unknown option");
        assertThatThrownBy(() -> KafkaOptions.parse(List.of("--kafka.a"))).hasMessageContaining("needs a value");
    }
}
