package dev.crmn.jobs.local;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where this JVM's CPU time goes, by kind of thread, between two snapshots of Linux's per-thread counters
 * ({@code /proc/self/task/<tid>/stat}). Unlike {@code ThreadMXBean} it sees the JIT compiler's and the
 * garbage collector's threads, which compete with the inference threads on a small machine. {@code crmn
 * bench-stream} uses it to say what share of the CPU the network got during a measured run.
 */
final class ThreadCpu {

    /** The unit of {@code /proc}'s CPU times: USER_HZ, 100 on every Linux architecture the project runs on. */
    static final double TICKS_PER_SECOND = 100;

    /** Thread-name prefixes (as the kernel keeps them: at most 15 characters) of each kind, in order of matching. */
    private static final Map<String, List<String>> KINDS = kinds();

    private static Map<String, List<String>> kinds() {
        Map<String, List<String>> k = new LinkedHashMap<>();
        k.put("inference", List.of("micro-batch", "naive per-recor", "per-record fast"));
        k.put("jit", List.of("C1 CompilerThre", "C2 CompilerThre"));
        k.put("gc", List.of("GC Thread", "G1 ", "VM Thread"));
        // the in-process KRaft broker's threads (the job's own Kafka clients are "kafka-producer-"/"Source Data Fet...")
        k.put("broker", List.of("data-plane-kafk", "kafka-1-", "group-coordinat", "ExpirationReape", "TxnMarkerSender",
                "quorum-controll", "executor-", "AddPartitionsTo", "transaction-log", "LogDirFailureHa", "kafka-scheduler",
                "broker-1-", "controller-1-", "share-coordinat", "ReplicaFetcher", "raft-"));
        return k;
    }

    /** CPU ticks per thread id, with the thread's name, and when they were read (wall clock, ms). */
    record Snapshot(Map<String, String> names, Map<String, Long> ticks, long nanoTime, long wallMillis) {
    }

    private ThreadCpu() {
    }

    /** Whether the counters can be read (Linux). */
    static boolean available() {
        return Files.isDirectory(Path.of("/proc/self/task"));
    }

    static Snapshot snapshot() {
        Map<String, String> names = new HashMap<>();
        Map<String, Long> ticks = new HashMap<>();
        long now = System.nanoTime();
        long wall = System.currentTimeMillis();
        byte[] buf = new byte[1024]; // a stat line is some 300 bytes
        String[] tids = new java.io.File("/proc/self/task").list();
        for (String tid : tids == null ? new String[0] : tids) { // null: not Linux, an empty snapshot
            int n;
            try (java.io.FileInputStream in = new java.io.FileInputStream("/proc/self/task/" + tid + "/stat")) {
                n = in.read(buf);
            } catch (IOException gone) {
                continue; // the thread ended
            }
            if (n > 0) {
                parse(tid, new String(buf, 0, n, java.nio.charset.StandardCharsets.US_ASCII), names, ticks);
            }
        }
        return new Snapshot(names, ticks, now, wall);
    }

    /** One {@code stat} line: the name is between the first '(' and the last ')'; utime and stime are fields 14 and 15. */
    static void parse(String tid, String stat, Map<String, String> names, Map<String, Long> ticks) {
        int open = stat.indexOf('(');
        int close = stat.lastIndexOf(')');
        if (open < 0 || close < open || close + 2 > stat.length()) {
            return;
        }
        String[] rest = stat.substring(close + 2).trim().split(" ");
        if (rest.length < 13) {
            return;
        }
        try {
            ticks.put(tid, Long.parseLong(rest[11]) + Long.parseLong(rest[12]));
            names.put(tid, stat.substring(open + 1, close));
        } catch (NumberFormatException e) {
            // not a stat line this reads: the thread is left out
        }
    }

    /** The kind of a thread name: inference, jit, gc, broker or other. */
    static String kind(String name) {
        for (Map.Entry<String, List<String>> e : KINDS.entrySet()) {
            for (String prefix : e.getValue()) {
                if (name.startsWith(prefix)) {
                    return e.getKey();
                }
            }
        }
        return "other";
    }

    /**
     * The shares between the first snapshot taken at or after {@code fromMillis} and the last taken at or before
     * {@code toMillis} (wall clock), or null if fewer than two lie in between.
     */
    static Map<String, Double> shares(List<Snapshot> series, long fromMillis, long toMillis, int cores) {
        Snapshot from = null;
        Snapshot to = null;
        for (Snapshot s : series) {
            if (from == null && s.wallMillis() >= fromMillis) {
                from = s;
            }
            if (s.wallMillis() <= toMillis) {
                to = s;
            }
        }
        return from == null || to == null || to.nanoTime() <= from.nanoTime() ? null : shares(from, to, cores);
    }

    /**
     * Shares of the machine's CPU time (cores × elapsed) between two snapshots, per kind, and "idle" for what no
     * thread of this JVM used. Threads that ended in between are not counted (their last ticks are unknown).
     */
    static Map<String, Double> shares(Snapshot from, Snapshot to, int cores) {
        Map<String, Double> seconds = new LinkedHashMap<>();
        for (String k : KINDS.keySet()) {
            seconds.put(k, 0.0);
        }
        seconds.put("other", 0.0);
        for (Map.Entry<String, Long> e : to.ticks().entrySet()) {
            Long before = from.ticks().get(e.getKey());
            if (before != null) {
                seconds.merge(kind(to.names().get(e.getKey())), (e.getValue() - before) / TICKS_PER_SECOND, Double::sum);
            }
        }
        double capacity = cores * (to.nanoTime() - from.nanoTime()) / 1e9;
        Map<String, Double> out = new LinkedHashMap<>();
        double used = 0;
        for (Map.Entry<String, Double> e : seconds.entrySet()) {
            out.put(e.getKey(), Math.round(1000 * e.getValue() / capacity) / 1000.0);
            used += e.getValue();
        }
        out.put("idle", Math.round(1000 * Math.max(0, capacity - used) / capacity) / 1000.0);
        return out;
    }
}
