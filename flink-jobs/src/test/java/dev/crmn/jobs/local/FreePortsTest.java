package dev.crmn.jobs.local;

import static org.assertj.core.api.Assertions.assertThat;

import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.HashSet;
import java.util.Set;
import org.junit.jupiter.api.Test;

class FreePortsTest {

    @Test
    void portsAreBelowTheEphemeralRangeBindableAndNeverHandedOutTwice() throws Exception {
        Set<Integer> seen = new HashSet<>();
        for (int i = 0; i < 200; i++) {
            int port = FreePorts.next();
            assertThat(port).isBetween(FreePorts.LOWEST, FreePorts.HIGHEST).isLessThan(32768);
            assertThat(seen.add(port)).as("port %d handed out twice", port).isTrue();
        }
        int port = FreePorts.next();
        try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
            assertThat(s.getLocalPort()).isEqualTo(port);
        }
    }

    @Test
    void aPortAListenerHoldsIsNotHandedOut() throws Exception {
        // 400 ports of the range held by listeners (few enough for a 1,024-file limit): no draw falls among them
        Set<Integer> held = new HashSet<>();
        java.util.List<ServerSocket> sockets = new java.util.ArrayList<>();
        try {
            for (int p = FreePorts.LOWEST; p < FreePorts.LOWEST + 400; p++) {
                try {
                    sockets.add(new ServerSocket(p, 1, InetAddress.getLoopbackAddress()));
                } catch (java.net.BindException inUse) {
                    // another process's listener: not free either
                }
                held.add(p);
            }
            for (int i = 0; i < 1000; i++) {
                assertThat(held).doesNotContain(FreePorts.next());
            }
        } finally {
            for (ServerSocket s : sockets) {
                s.close();
            }
        }
    }
}
