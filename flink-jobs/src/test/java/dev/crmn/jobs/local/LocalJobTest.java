package dev.crmn.jobs.local;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.assertj.core.api.Assumptions.assumeThat;

import java.io.IOException;
import java.net.Inet4Address;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.NetworkInterface;
import java.net.Socket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.Optional;
import org.apache.flink.configuration.Configuration;
import org.apache.flink.configuration.RestOptions;
import org.apache.flink.streaming.api.functions.sink.v2.DiscardingSink;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The local runner: its web UI answers on this machine only, unless rest.bind-address asks for more; its savepoints
 * name the Kafka cluster they were taken against, and --fresh retires them.
 */
class LocalJobTest {

    /** An address of this machine other than loopback, if it has one. */
    static Optional<InetAddress> outsideAddress() throws IOException {
        for (NetworkInterface ni : Collections.list(NetworkInterface.getNetworkInterfaces())) {
            if (ni.isUp() && !ni.isLoopback()) {
                for (InetAddress a : Collections.list(ni.getInetAddresses())) {
                    if (a instanceof Inet4Address) {
                        return Optional.of(a);
                    }
                }
            }
        }
        return Optional.empty();
    }

    static boolean answers(InetAddress host, int port) {
        try (Socket s = new Socket()) {
            s.connect(new InetSocketAddress(host, port), 2000);
            return true;
        } catch (IOException e) {
            return false;
        }
    }

    static LocalJob runner(Path savepoints, boolean fresh, LocalJob.SavepointOwner owner) throws Exception {
        return LocalJob.startForRunner("test", 1, env -> {
            env.setParallelism(1);
            env.fromSequence(0, Long.MAX_VALUE).sinkTo(new DiscardingSink<>());
        }, "savepoint-owner-test", Optional.of(savepoints), fresh, owner);
    }

    @Test
    void aNegativeDurationIsRefusedBeforeAnythingStartsAndZeroMeansUntilCtrlC() {
        assertThat(LocalJob.checkDuration(0)).isZero();
        assertThat(LocalJob.checkDuration(2.5)).isEqualTo(2.5);
        assertThatThrownBy(() -> LocalJob.checkDuration(-5)).isInstanceOf(IllegalArgumentException.class)
                .hasMessage("--duration -5: must be 0 (until Ctrl-C) or more seconds");
        assertThatThrownBy(() -> LocalJob.checkDuration(-0.5)).hasMessageStartingWith("--duration -0.5:");
        assertThatThrownBy(() -> LocalJob.checkDuration(Double.NaN)).hasMessageStartingWith("--duration NaN:");
    }

    @Test
    void aSavepointRemembersItsKafkaClusterAndFreshRetiresIt(@TempDir Path dir) throws Exception {
        Path savepoints = dir.resolve("savepoints/group");
        LocalJob.SavepointOwner a = new LocalJob.SavepointOwner("cluster-A", "a:9092", "m");
        LocalJob.SavepointOwner b = new LocalJob.SavepointOwner("cluster-B", "b:9092", "m");
        try (LocalJob first = runner(savepoints, false, a)) {
            assertThat(first.resumedFrom()).isEmpty();
        } // stops with a savepoint, owned by cluster A
        Path taken = LocalJob.newestSavepoint(savepoints).orElseThrow();
        assertThat(Files.readString(LocalJob.ownerFile(savepoints))).contains("cluster-A", taken.getFileName().toString());
        try (LocalJob again = runner(savepoints, false, a)) {
            assertThat(again.resumedFrom()).as("same cluster: resumed").contains(taken);
        }
        Path second = LocalJob.newestSavepoint(savepoints).orElseThrow();
        assertThatThrownBy(() -> runner(savepoints, false, b)).isInstanceOf(IOException.class)
                .hasMessageContaining("cluster-A").hasMessageContaining("cluster-B").hasMessageContaining("--fresh")
                .hasMessageNotContaining("\n");
        assertThat(second).as("a refused start leaves the savepoint alone").exists();
        try (LocalJob fresh = runner(savepoints, true, b)) {
            assertThat(fresh.resumedFrom()).isEmpty();
            assertThat(LocalJob.newestSavepoint(savepoints)).as("--fresh retired the old savepoint at once: a kill -9"
                    + " now leaves nothing to resume from").isEmpty();
            assertThat(savepoints.resolveSibling("group.retired")).isDirectory();
        }
        try (LocalJob next = runner(savepoints, false, b)) {
            assertThat(next.resumedFrom()).as("the fresh run's own savepoint, owned by B").isPresent();
        }
    }

    @Test
    void theWebUiListensOnLoopbackOnly() throws Exception {
        Optional<InetAddress> outside = outsideAddress();
        assumeThat(outside).as("a network address besides loopback").isPresent();
        int port = FreePorts.next();
        Configuration flink = new Configuration();
        flink.set(RestOptions.PORT, port);
        try (LocalJob job = LocalJob.start(flink, 1, env -> env.fromSequence(0, Long.MAX_VALUE)
                .sinkTo(new DiscardingSink<>()), "web-ui-test")) {
            assertThat(answers(InetAddress.getLoopbackAddress(), port)).as("127.0.0.1:%d", port).isTrue();
            assertThat(answers(outside.get(), port)).as("%s:%d", outside.get(), port).isFalse();
        }
    }
}
