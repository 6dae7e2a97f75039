package dev.crmn.jobs.common;

import static org.assertj.core.api.Assertions.assertThat;

import java.time.Duration;
import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.apache.flink.streaming.runtime.tasks.StreamTaskActionExecutor;
import org.apache.flink.streaming.runtime.tasks.mailbox.MailboxExecutorImpl;
import org.apache.flink.streaming.runtime.tasks.mailbox.TaskMailboxImpl;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

/**
 * The worker/mailbox handover both operators use, on Flink's own mailbox with this test's thread as the task
 * thread: results and failures come back on the task thread, and a result the task never takes is freed.
 */
class TaskWorkerTest {

    private final TaskMailboxImpl mailbox = new TaskMailboxImpl(Thread.currentThread());
    private final TaskWorker worker = new TaskWorker("test-worker", getClass().getClassLoader(),
            new MailboxExecutorImpl(mailbox, 0, StreamTaskActionExecutor.IMMEDIATE));
    private final List<String> onTask = new CopyOnWriteArrayList<>();
    private final List<String> discarded = new CopyOnWriteArrayList<>();

    @AfterEach
    void stop() throws Exception {
        worker.stop(Duration.ofSeconds(10));
    }

    /** Runs the next mail on this (the task) thread, waiting for it as a task thread does. */
    private void runNextMail() throws Exception {
        mailbox.take(0).run();
    }

    @Test
    void aResultAndAFailureComeBackOnTheTaskThreadInOrder() throws Exception {
        Thread task = Thread.currentThread();
        worker.submit("first", () -> "model v2", r -> onTask.add(r + " on " + (Thread.currentThread() == task)),
                e -> onTask.add("failed"), discarded::add);
        worker.<String>submit("second", () -> {
            throw new OutOfMemoryError("native");
        }, r -> onTask.add("unexpected"), e -> onTask.add("failure " + e.getMessage()), discarded::add);
        worker.<String>submit("superseded", () -> null, r -> onTask.add("null handed over"), e -> onTask.add("failed"),
                discarded::add);
        runNextMail();
        runNextMail();
        assertThat(onTask).containsExactly("model v2 on true", "failure native");
        assertThat(worker.stop(Duration.ofSeconds(10))).isTrue();
        assertThat(mailbox.tryTake(0)).as("a null result hands nothing over").isEmpty();
        assertThat(discarded).isEmpty();
    }

    @Test
    void aResultTheTaskNeverTakesIsFreed() throws Exception {
        CountDownLatch queued = new CountDownLatch(1);
        worker.submit("load", () -> "model v3", onTask::add, e -> onTask.add("failed"), discarded::add);
        worker.prepare(queued::countDown); // runs after the load: its mail is in the mailbox by then
        assertThat(queued.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(worker.stop(Duration.ofSeconds(10))).isTrue(); // the task closes before its mail runs
        assertThat(discarded).containsExactly("model v3");
        runNextMail(); // the mail runs after all (a draining mailbox): nothing is handed over twice
        assertThat(onTask).isEmpty();
    }

    @Test
    void aResultThatCannotBeHandedOverAnyMoreIsFreed() throws Exception {
        CountDownLatch closed = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(1);
        worker.submit("load", () -> {
            closed.await();
            return "model v4";
        }, onTask::add, e -> onTask.add("failed"), discarded::add);
        worker.prepare(done::countDown);
        mailbox.quiesce();
        mailbox.close(); // the task ends while the load runs
        closed.countDown();
        assertThat(done.await(10, TimeUnit.SECONDS)).isTrue();
        assertThat(discarded).containsExactly("model v4");
        assertThat(onTask).isEmpty();
    }

    @Test
    void aStoppedWorkerRunsNothing() throws Exception {
        assertThat(worker.stop(Duration.ofSeconds(10))).isTrue();
        assertThat(worker.submit("late", () -> "x", onTask::add, e -> onTask.add("failed"), discarded::add)).isFalse();
    }
}
