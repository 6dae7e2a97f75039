package dev.crmn.it.dist;

import static org.assertj.core.api.Assertions.assertThat;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.jar.JarFile;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

/**
 * The layout the build leaves for a Flink cluster (docker/README.md): target/dist/crmn-flink-job.jar, the job jar,
 * and target/dist/lib/, the jars for the cluster's lib/. Built by the flink-jobs and model modules' package phase,
 * which runs before this module's tests.
 */
class ClusterLayoutITCase {

    static final Path DIST = Path.of("..", "target", "dist");

    static List<String> entries(Path jar) throws Exception {
        try (JarFile f = new JarFile(jar.toFile())) {
            return f.stream().map(e -> e.getName()).toList();
        }
    }

    @Test
    void theJobJarHoldsTheJobsAndNotFlinkTheBrokerDl4jOrALoggingConfig() throws Exception {
        List<String> job = entries(DIST.resolve("crmn-flink-job.jar"));
        assertThat(job).contains("dev/crmn/connectors/kafka/CrmnKafka.class", "dev/crmn/model/infer/ServingNetwork.class",
                "org/apache/flink/connector/kafka/source/KafkaSource.class", "org/apache/kafka/clients/producer/KafkaProducer.class");
        assertThat(job).as("Flink itself (provided by the cluster)").doesNotContain(
                "org/apache/flink/streaming/api/environment/StreamExecutionEnvironment.class",
                "org/apache/flink/api/common/typeinfo/TypeInformation.class",
                "org/apache/flink/connector/base/source/reader/SourceReaderBase.class",
                "org/apache/flink/client/program/PackagedProgram.class");
        assertThat(job).filteredOn(n -> n.startsWith("org/apache/flink/") && n.endsWith(".class")
                        && !n.startsWith("org/apache/flink/connector/kafka/")
                        && !n.startsWith("org/apache/flink/streaming/connectors/kafka/")
                        && !n.equals("org/apache/flink/streaming/util/serialization/JSONKeyValueDeserializationSchema.class"))
                .as("Flink classes other than the Kafka connector's").isEmpty();
        assertThat(job).filteredOn(n -> (n.startsWith("kafka/") || n.startsWith("scala/")) && n.endsWith(".class"))
                .as("the Kafka broker").isEmpty();
        assertThat(job).as("the Kafka broker").doesNotContain("org/apache/kafka/server/common/MetadataVersion.class",
                "org/apache/kafka/raft/KafkaRaftClient.class");
        assertThat(job).filteredOn(n -> n.startsWith("dev/crmn/jobs/local/") || n.startsWith("dev/crmn/jobs/cli/")
                        || n.startsWith("dev/crmn/jobs/bench/") || n.startsWith("dev/crmn/jobs/demo/")
                        || n.startsWith("dev/crmn/jobs/cluster/"))
                .as("the local runner and the launcher").isEmpty();
        assertThat(job).filteredOn(n -> n.startsWith("org/nd4j/") || n.startsWith("org/deeplearning4j/")
                || n.startsWith("org/bytedeco/")).as("DL4J/ND4J (the cluster's lib/)").isEmpty();
        assertThat(job).filteredOn(n -> n.matches("log4j2?(-test)?\\\\.(xml|properties)")).as("logging configuration").isEmpty();
    }

    @Test
    void theLibSetHoldsDl4jBothNativeBuildsAndTheBridge() throws Exception {
        List<String> lib;
        try (Stream<Path> s = Files.list(DIST.resolve("lib"))) {
            lib = s.map(p -> p.getFileName().toString()).toList();
        }
        assertThat(lib).anyMatch(n -> n.startsWith("deeplearning4j-nn-"))
                .anyMatch(n -> n.startsWith("nd4j-native-") && n.endsWith("-linux-x86_64-onednn.jar"))
                .anyMatch(n -> n.startsWith("nd4j-native-") && n.endsWith("-linux-x86_64.jar"))
                .anyMatch(n -> n.startsWith("openblas-"))
                .noneMatch(n -> n.startsWith("flink-") || n.startsWith("kafka") || n.startsWith("slf4j-") || n.startsWith("jackson-core"));
        Path bridge = Files.list(DIST.resolve("lib")).filter(p -> p.getFileName().toString().endsWith("-nd4j-bridge.jar"))
                .findFirst().orElseThrow();
        assertThat(entries(bridge)).filteredOn(n -> n.endsWith(".class"))
                .containsExactly("org/nd4j/nativeblas/Nd4jCpu$Environment.class");
    }
}
