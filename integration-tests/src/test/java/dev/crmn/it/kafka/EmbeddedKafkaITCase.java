package dev.crmn.it.kafka;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.jobs.local.EmbeddedKafka;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;
import org.junit.jupiter.api.Test;

class EmbeddedKafkaITCase {

    @Test
    void brokerAcceptsTransactionalWritesAndReadCommittedReads() throws Exception {
        try (EmbeddedKafka kafka = EmbeddedKafka.start()) {
            kafka.createTopic("t", 2);
            Properties pp = new Properties();
            pp.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
            pp.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "tx-1");
            try (KafkaProducer<String, String> p = new KafkaProducer<>(pp, new StringSerializer(), new StringSerializer())) {
                p.initTransactions();
                p.beginTransaction();
                for (int i = 0; i < 10; i++) {
                    p.send(new ProducerRecord<>("t", "k" + i, "v" + i));
                }
                p.commitTransaction();
            }
            Properties cp = new Properties();
            cp.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, kafka.bootstrapServers());
            cp.put(ConsumerConfig.GROUP_ID_CONFIG, "g");
            cp.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
            cp.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
            List<String> got = new ArrayList<>();
            try (KafkaConsumer<String, String> c = new KafkaConsumer<>(cp, new StringDeserializer(), new StringDeserializer())) {
                c.subscribe(List.of("t"));
                long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
                while (got.size() < 10 && System.nanoTime() < deadline) {
                    for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                        got.add(r.value());
                    }
                }
            }
            assertThat(got).hasSize(10).contains("v0", "v9");
            assertThat(kafka.admin().listTopics().names().get()).contains("t");
        }
    }
}
