package dev.crmn.jobs.bench;

import static org.assertj.core.api.Assertions.assertThat;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.util.HashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;

class ThreadCpuTest {

    @Test
    void parsesNamesWithSpacesAndParentheses() {
        Map<String, String> names = new HashMap<>();
        Map<String, Long> ticks = new HashMap<>();
        ThreadCpu.parse("42", "42 (micro-batch (1)) R 1 2 3 4 5 6 7 8 9 10 250 17 0 0 20 0 1 0 100 0 0", names, ticks);
        assertThat(names).containsEntry("42", "micro-batch (1)");
        assertThat(ticks).containsEntry("42", 267L); // utime 250 + stime 17
        ThreadCpu.parse("43", "43 (truncated", names, ticks);
        ThreadCpu.parse("44", "44 (x)", names, ticks);
        ThreadCpu.parse("45", "45 (x) R 1 2 3 4 5 6 7 8 9 10 utime 17 0", names, ticks);
        assertThat(names).containsOnlyKeys("42");
        assertThat(ticks).containsOnlyKeys("42");
    }

    @Test
    void sortsThreadsIntoKinds() {
        assertThat(ThreadCpu.kind("micro-batch inf")).isEqualTo("inference");
        assertThat(ThreadCpu.kind("C2 CompilerThre")).isEqualTo("jit");
        assertThat(ThreadCpu.kind("GC Thread#1")).isEqualTo("gc");
        assertThat(ThreadCpu.kind("data-plane-kafk")).isEqualTo("broker");
        assertThat(ThreadCpu.kind("kafka-producer-")).isEqualTo("other"); // the job's own client, not the broker
    }

    @Test
    void withoutTheProcessAndMachineCountersIdleIsWhatNoLiveThreadUsed() {
        var from = new ThreadCpu.Snapshot(Map.of("1", "micro-batch inf", "2", "C2 CompilerThre", "3", "ended"),
                Map.of("1", 100L, "2", 50L, "3", 10L), 0, 1000);
        var to = new ThreadCpu.Snapshot(Map.of("1", "micro-batch inf", "2", "C2 CompilerThre", "4", "new"),
                Map.of("1", 250L, "2", 100L, "4", 30L), 2_000_000_000L, 3000); // 2 s on 2 cores: 400 ticks of capacity
        Map<String, Double> s = ThreadCpu.shares(from, to, 2);
        // thread 4 started in between: all its 30 ticks are in the window; thread 3 ended: its last ticks are unknown
        assertThat(s).containsEntry("inference", 0.375).containsEntry("jit", 0.125).containsEntry("other", 0.075)
                .containsEntry("idle", 0.425).doesNotContainKeys("exited", "outside", "iowait");
        assertThat(ThreadCpu.shares(java.util.List.of(from, to), 1000, 3000, 2)).isEqualTo(s);
        assertThat(ThreadCpu.shares(java.util.List.of(from, to), 1001, 3000, 2)).isNull(); // one snapshot in the window
        assertThat(s.values().stream().mapToDouble(Double::doubleValue).sum()).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void separatesEndedThreadsOtherProcessesAndTrueIdle() {
        // the process used 260 ticks in the window, its live threads 230 (150 + 50 + 30): 30 went to threads that ended;
        // the machine was busy 380 of 400 ticks: 380 - 260 = 120 outside this JVM, 12 idle and 8 waiting for the disk
        var from = new ThreadCpu.Snapshot(Map.of("1", "micro-batch inf", "2", "C2 CompilerThre", "3", "ended"),
                Map.of("1", 100L, "2", 50L, "3", 10L), 0, 1000, 1000, 5000, 9000, 700);
        var to = new ThreadCpu.Snapshot(Map.of("1", "micro-batch inf", "2", "C2 CompilerThre", "4", "new"),
                Map.of("1", 250L, "2", 100L, "4", 30L), 2_000_000_000L, 3000, 1260, 5380, 9012, 708);
        Map<String, Double> s = ThreadCpu.shares(from, to, 2);
        assertThat(s).containsEntry("inference", 0.375).containsEntry("jit", 0.125).containsEntry("other", 0.075)
                .containsEntry("exited", 0.075).containsEntry("outside", 0.3).containsEntry("idle", 0.03)
                .containsEntry("iowait", 0.02);
        assertThat(s.values().stream().mapToDouble(Double::doubleValue).sum()).isCloseTo(1.0, org.assertj.core.data.Offset.offset(1e-9));
    }

    @Test
    void readsTheMachineLine() {
        assertThat(ThreadCpu.parseMachine("cpu  100 5 20 300 7 1 2 3 0 0")).containsExactly(131, 300, 7);
        assertThat(ThreadCpu.parseMachine("intr 1 2 3")).containsExactly(-1, -1, -1);
    }

    @Test
    void seesThisThreadsOwnWork() {
        assumeTrue(ThreadCpu.available(), "needs Linux's /proc/self/task");
        ThreadCpu.Snapshot a = ThreadCpu.snapshot();
        long until = System.nanoTime() + 300_000_000L;
        double x = 0;
        while (System.nanoTime() < until) {
            x += Math.sqrt(x + 1);
        }
        ThreadCpu.Snapshot b = ThreadCpu.snapshot();
        assertThat(x).isPositive();
        Map<String, Double> s = ThreadCpu.shares(a, b, Runtime.getRuntime().availableProcessors());
        assertThat(s.get("other")).isGreaterThan(0.0); // this test's thread spun for 0.3 s
        assertThat(b.processTicks()).isGreaterThanOrEqualTo(a.processTicks()).isPositive();
        assertThat(b.machineBusy()).isGreaterThan(a.machineBusy());
        assertThat(s).containsKeys("exited", "outside", "idle");
    }
}
