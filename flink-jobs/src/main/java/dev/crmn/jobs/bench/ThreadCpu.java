package dev.crmn.jobs.bench;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Where the machine's CPU time goes between two snapshots of Linux's counters: this JVM's threads by kind
 * ({@code /proc/self/task/<tid>/stat}), its threads that ended in between (the process's own total,
 * {@code /proc/self/stat}, less its live threads'), everything outside this JVM (other processes and the
 * kernel's own threads: {@code /proc/stat}'s busy time less this process's), and the idle time, with and without
 * some thread waiting for the disk ({@code /proc/stat}'s iowait and idle).
 * Unlike {@code ThreadMXBean} it sees the JIT compiler's and the garbage collector's threads, which compete with
 * the inference threads on a small machine. {@code crmn bench-stream} uses it to say what share of the CPU the
 * network got during a measured run.
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

    /**
     * CPU ticks per thread id, with the thread's name, and when they were read (wall clock, ms); this process's
     * ticks (ended threads included), and the machine's busy, idle and I/O-wait ticks (all cores; -1 where
     * unreadable).
     */
    record Snapshot(Map<String, String> names, Map<String, Long> ticks, long nanoTime, long wallMillis,
                    long processTicks, long machineBusy, long machineIdle, long machineIowait) {

        Snapshot(Map<String, String> names, Map<String, Long> ticks, long nanoTime, long wallMillis) {
            this(names, ticks, nanoTime, wallMillis, -1, -1, -1, -1);
        }
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
        long process = -1;
        try {
            Map<String, Long> self = new HashMap<>();
            parse("self", Files.readString(Path.of("/proc/self/stat")), new HashMap<>(), self);
            process = self.getOrDefault("self", -1L);
        } catch (IOException | RuntimeException e) {
            // not Linux: -1
        }
        long[] machine = machine();
        return new Snapshot(names, ticks, now, wall, process, machine[0], machine[1], machine[2]);
    }

    /** The machine's busy, idle and iowait ticks from {@code /proc/stat}'s first line, or -1s. */
    static long[] machine() {
        try (var lines = Files.lines(Path.of("/proc/stat"))) {
            return lines.findFirst().map(ThreadCpu::parseMachine).orElse(new long[]{-1, -1, -1});
        } catch (IOException | RuntimeException e) {
            return new long[]{-1, -1, -1};
        }
    }

    /** {@code cpu  user nice system idle iowait irq softirq steal ...}: busy (all but idle and iowait), idle, iowait. */
    static long[] parseMachine(String line) {
        String[] f = line.trim().split("\\s+");
        if (f.length < 6 || !f[0].equals("cpu")) {
            return new long[]{-1, -1, -1};
        }
        long busy = 0;
        long idle = 0;
        long iowait = 0;
        for (int i = 1; i < Math.min(f.length, 9); i++) { // guest times are already in user and nice
            long v = Long.parseLong(f[i]);
            if (i == 4) {
                idle += v;
            } else if (i == 5) {
                iowait += v;
            } else {
                busy += v;
            }
        }
        return new long[]{busy, idle, iowait};
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
     * Shares of the machine's CPU time (cores × elapsed) between two snapshots: per kind of this JVM's threads
     * (a thread started in between counts from zero); "exited" for its threads that ended in between; "outside"
     * for other processes and the kernel's own threads; "iowait" for what nothing used while some thread waited for
     * the disk (a hint, as Linux's iowait is), "idle" for what nothing used otherwise. Without the process's and
     * the machine's counters, "idle" is all that no live thread of this JVM used.
     */
    static Map<String, Double> shares(Snapshot from, Snapshot to, int cores) {
        Map<String, Double> seconds = new LinkedHashMap<>();
        for (String k : KINDS.keySet()) {
            seconds.put(k, 0.0);
        }
        seconds.put("other", 0.0);
        double threads = 0;
        for (Map.Entry<String, Long> e : to.ticks().entrySet()) {
            double s = (e.getValue() - from.ticks().getOrDefault(e.getKey(), 0L)) / TICKS_PER_SECOND;
            seconds.merge(kind(to.names().get(e.getKey())), s, Double::sum);
            threads += s;
        }
        double capacity = cores * (to.nanoTime() - from.nanoTime()) / 1e9;
        boolean whole = from.processTicks() >= 0 && to.processTicks() >= 0 && from.machineBusy() >= 0
                && to.machineBusy() >= 0;
        double exited = whole ? Math.max(0, (to.processTicks() - from.processTicks()) / TICKS_PER_SECOND - threads) : 0;
        Map<String, Double> out = new LinkedHashMap<>();
        double used = exited;
        for (Map.Entry<String, Double> e : seconds.entrySet()) {
            out.put(e.getKey(), share(e.getValue(), capacity));
            used += e.getValue();
        }
        if (whole) {
            long busy = to.machineBusy() - from.machineBusy();
            long idle = to.machineIdle() - from.machineIdle();
            long iowait = to.machineIowait() - from.machineIowait();
            long total = busy + idle + iowait;
            double idleShare = total > 0 ? (double) idle / total : 0;
            double iowaitShare = total > 0 ? (double) iowait / total : 0;
            out.put("exited", share(exited, capacity));
            out.put("outside", share(Math.max(0, capacity * (1 - idleShare - iowaitShare) - used), capacity));
            out.put("idle", Math.round(1000 * idleShare) / 1000.0);
            out.put("iowait", Math.round(1000 * iowaitShare) / 1000.0);
        } else {
            out.put("idle", share(Math.max(0, capacity - used), capacity));
        }
        return out;
    }

    private static double share(double seconds, double capacity) {
        return Math.round(1000 * seconds / capacity) / 1000.0;
    }
}
