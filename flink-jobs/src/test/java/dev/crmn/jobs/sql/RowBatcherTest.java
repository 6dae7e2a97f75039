package dev.crmn.jobs.sql;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

@Timeout(60) // a batch that never runs hangs a future: fail, do not hang the build
class RowBatcherTest {

    private static final long FOREVER_MS = TimeUnit.HOURS.toMillis(1);

    final ExecutorService worker = Executors.newSingleThreadExecutor();
    final ScheduledExecutorService timer = Executors.newSingleThreadScheduledExecutor();
    final List<List<Integer>> batches = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() {
        worker.shutdownNow();
        timer.shutdownNow();
    }

    List<String> echo(List<Integer> in) {
        batches.add(List.copyOf(in));
        return in.stream().map(i -> "r" + i).toList();
    }

    @Test
    void aFullBatchRunsAtOnceAndEachRowGetsItsOwnResultInOrder() throws Exception {
        RowBatcher<Integer, String> b = new RowBatcher<>(4, FOREVER_MS, this::echo, worker, timer);
        List<CompletableFuture<String>> f = new ArrayList<>();
        for (int i = 0; i < 12; i++) {
            f.add(b.add(i));
        }
        for (int i = 0; i < 12; i++) {
            assertThat(f.get(i).get()).isEqualTo("r" + i);
        }
        assertThat(batches).containsExactly(List.of(0, 1, 2, 3), List.of(4, 5, 6, 7), List.of(8, 9, 10, 11));
    }

    @Test
    void aBatchThatDoesNotFillRunsWhenItsFirstRowHasWaitedTheDelay() throws Exception {
        RowBatcher<Integer, String> b = new RowBatcher<>(64, 30, this::echo, worker, timer);
        CompletableFuture<String> a = b.add(1);
        CompletableFuture<String> c = b.add(2);
        assertThat(a.get()).isEqualTo("r1");
        assertThat(c.get()).isEqualTo("r2");
        assertThat(batches).containsExactly(List.of(1, 2));
        assertThat(b.add(3).get()).as("the next row starts a new batch with its own deadline").isEqualTo("r3");
        assertThat(batches).containsExactly(List.of(1, 2), List.of(3));
    }

    @Test
    void theNextBatchFillsWhileOneRuns() throws Exception {
        CountDownLatch running = new CountDownLatch(1);
        CountDownLatch release = new CountDownLatch(1);
        RowBatcher<Integer, String> b = new RowBatcher<>(2, FOREVER_MS, in -> {
            if (in.get(0) == 0) {
                running.countDown();
                release.await();
            }
            return echo(in);
        }, worker, timer);
        CompletableFuture<String> first = b.add(0);
        b.add(1);
        running.await();
        CompletableFuture<String> second = b.add(2);
        CompletableFuture<String> third = b.add(3);
        assertThat(first).isNotDone();
        release.countDown();
        assertThat(third.get()).isEqualTo("r3");
        assertThat(second.get()).isEqualTo("r2");
        assertThat(batches).containsExactly(List.of(0, 1), List.of(2, 3));
    }

    @Test
    void aFailingBatchFailsItsRowsOnlyAndTheNextOneRuns() throws Exception {
        RowBatcher<Integer, String> b = new RowBatcher<>(2, FOREVER_MS, in -> {
            if (in.contains(1)) {
                throw new IllegalStateException("the network is broken");
            }
            return echo(in);
        }, worker, timer);
        CompletableFuture<String> a = b.add(0);
        CompletableFuture<String> c = b.add(1);
        assertThatThrownBy(a::get).isInstanceOf(ExecutionException.class).hasRootCauseMessage("the network is broken");
        assertThatThrownBy(c::get).isInstanceOf(ExecutionException.class);
        CompletableFuture<String> d = b.add(2);
        b.add(3);
        assertThat(d.get()).isEqualTo("r2");
    }

    @Test
    void aBatchGivingTheWrongNumberOfResultsFailsItsRows() {
        RowBatcher<Integer, String> b = new RowBatcher<>(2, FOREVER_MS, in -> List.of("one"), worker, timer);
        CompletableFuture<String> a = b.add(0);
        b.add(1);
        assertThatThrownBy(a::get).hasMessageContaining("a batch of 2 gave 1 results");
    }

    @Test
    void closingFailsTheOpenBatchAndEveryLaterRowWithoutRunningThem() {
        RowBatcher<Integer, String> b = new RowBatcher<>(8, FOREVER_MS, this::echo, worker, timer);
        CompletableFuture<String> open = b.add(0);
        b.close();
        assertThat(open).isCompletedExceptionally();
        assertThat(b.add(1)).isCompletedExceptionally();
        assertThat(batches).isEmpty();
    }

    @Test
    void aStoppedWorkerFailsTheBatchInsteadOfLosingIt() {
        worker.shutdown();
        RowBatcher<Integer, String> b = new RowBatcher<>(1, FOREVER_MS, this::echo, worker, timer);
        assertThatThrownBy(() -> b.add(0).get()).hasMessageContaining("the batch worker has stopped");
    }

    @Test
    void settingsOutsideTheirRangeAreRefused() {
        assertThatThrownBy(() -> new RowBatcher<Integer, String>(0, 1, this::echo, worker, timer))
                .isInstanceOf(IllegalArgumentException.class);
        assertThatThrownBy(() -> new RowBatcher<Integer, String>(1, -1, this::echo, worker, timer))
                .isInstanceOf(IllegalArgumentException.class);
    }
}
