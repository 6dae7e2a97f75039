package dev.crmn.jobs.cli;

import dev.crmn.jobs.local.DefaultTopics;
import dev.crmn.jobs.local.EmbeddedKafka;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code crmn broker}: a local single-node Kafka broker for demos, with the default topics. */
@Command(name = "broker", mixinStandardHelpOptions = true,
        description = {"Run a local single-node Kafka broker (KRaft, from Maven artifacts) with the default topics, until Ctrl-C.",
                "Topics are created here; the broker does not create topics on first use (auto.create.topics.enable=false)."})
public final class BrokerCommand implements Callable<Integer> {

    @Option(names = "--port", defaultValue = "9092", description = "Client port (default: ${DEFAULT-VALUE}).")
    int port;

    @Option(names = "--data-dir", defaultValue = "runs/kafka", description = "Broker data directory, kept across runs (default: ${DEFAULT-VALUE}).")
    Path dataDir;

    @Option(names = "--partitions", defaultValue = "2", description = "Partitions of the frames topics (default: ${DEFAULT-VALUE}).")
    int partitions;

    @Override
    public Integer call() throws Exception {
        EmbeddedKafka kafka = EmbeddedKafka.start(port, dataDir, Map.of());
        CountDownLatch stop = new CountDownLatch(1);
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            kafka.close();
            stop.countDown();
        }, "crmn-broker-shutdown"));
        DefaultTopics.create(kafka, partitions);
        System.out.println("Kafka broker at " + kafka.bootstrapServers() + " (data in " + dataDir + "); topics: "
                + String.join(", ", DefaultTopics.NAMES) + ". Ctrl-C stops it.");
        stop.await();
        return 0;
    }
}
