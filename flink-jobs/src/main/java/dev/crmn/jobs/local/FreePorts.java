package dev.crmn.jobs.local;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Ports for a listener that binds them a moment later (the embedded broker, a test's cluster). A port from {@code new
 * ServerSocket(0)} comes from Linux's ephemeral range (32768-60999), which the kernel also hands to outgoing
 * connections (Kafka clients, the sockets of a cluster that just stopped): one of those can take it between the
 * choice and the bind. A port below that range that is free now can only be taken by another listener. A port is
 * handed out once per JVM, so two brokers started side by side never get the same one.
 */
public final class FreePorts {

    /** The range ports are drawn from: below the ephemeral range, above the well-known and most registered ones. */
    static final int LOWEST = 20000;
    static final int HIGHEST = 31999;

    private static final Set<Integer> HANDED_OUT = ConcurrentHashMap.newKeySet();

    private FreePorts() {
    }

    /** A loopback port in {@value #LOWEST}-{@value #HIGHEST} that no listener holds now and this JVM never handed out. */
    public static int next() {
        ThreadLocalRandom r = ThreadLocalRandom.current();
        for (int i = 0; i < 1000; i++) {
            int port = LOWEST + r.nextInt(HIGHEST - LOWEST + 1);
            if (!HANDED_OUT.add(port)) {
                continue;
            }
            try (ServerSocket s = new ServerSocket(port, 1, InetAddress.getLoopbackAddress())) {
                return s.getLocalPort();
            } catch (IOException taken) {
                // another listener has it: try another
            }
        }
        throw new UncheckedIOException(new IOException("no free port in " + LOWEST + "-" + HIGHEST));
    }
}
