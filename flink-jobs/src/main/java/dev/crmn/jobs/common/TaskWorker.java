package dev.crmn.jobs.common;

import java.time.Duration;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * One thread beside an operator's task thread for slow work (loading a model, a training round), whose result goes
 * back to the task thread through the mailbox: the handover both operators need, written once.
 *
 * <ul>
 *   <li>The work runs on a daemon thread whose context class loader is the task's user-code class loader (ND4J's
 *       backend discovery and Flink's file systems look there), one piece at a time, in submission order.</li>
 *   <li>Its result is handed to {@code onResult} on the task thread; a failure ({@link Exception} or {@link Error}:
 *       a native library's, an out-of-memory) to {@code onFailure} there. A work that returns null hands nothing
 *       over (it was stopped or found itself superseded).</li>
 *   <li>A result that cannot be handed over any more (the task is closing) or that was handed over but never taken
 *       (the task closed before its mail ran) is given to {@code discard} instead: a loaded model's native memory is
 *       freed, not leaked.</li>
 *   <li>{@link #stop} interrupts the work and waits for the thread; it says whether the thread ended, so that the
 *       operator frees native memory only when no work still uses it. {@link #finish} lets the work submitted so far
 *       run to its end first (work that must not be cut short, such as publishing).</li>
 * </ul>
 */
public final class TaskWorker {

    private static final Logger LOG = LoggerFactory.getLogger(TaskWorker.class);

    /** Work that may throw. */
    @FunctionalInterface
    public interface Work<T> {
        T call() throws Exception;
    }

    /** What the task thread does with a result or a failure. */
    @FunctionalInterface
    public interface OnTask<T> {
        void accept(T value) throws Exception;
    }

    /** A result handed to the mailbox and not yet taken, with how to free it (identity, not value, equality). */
    private static final class Handed {
        final Object result;
        final Consumer<Object> discard;

        Handed(Object result, Consumer<Object> discard) {
            this.result = result;
            this.discard = discard;
        }
    }

    private final ExecutorService thread;
    private final MailboxExecutor mailbox;
    private final Set<Handed> handed = ConcurrentHashMap.newKeySet();

    public TaskWorker(String name, ClassLoader userCode, MailboxExecutor mailbox) {
        this.thread = TaskSetup.worker(name, userCode);
        this.mailbox = mailbox;
    }

    /** Runs {@code setup} on the worker thread before any work (thread-local settings such as OpenMP threads). */
    public void prepare(Runnable setup) {
        thread.execute(setup);
    }

    /**
     * Runs {@code work} on the worker thread, then {@code onResult} or {@code onFailure} on the task thread.
     *
     * @param what    what the work is, for the mailbox and the log
     * @param discard frees a result that never reaches {@code onResult}
     * @return false if the worker was stopped (nothing runs)
     */
    @SuppressWarnings("unchecked")
    public <T> boolean submit(String what, Work<T> work, OnTask<T> onResult, OnTask<Throwable> onFailure,
                              Consumer<? super T> discard) {
        try {
            thread.execute(() -> {
                T result;
                try {
                    result = work.call();
                } catch (Exception | Error e) {
                    handOverFailure(what, e, onFailure);
                    return;
                }
                if (result == null) {
                    return;
                }
                Handed h = new Handed(result, r -> discard.accept((T) r));
                handed.add(h);
                try {
                    mailbox.execute(() -> {
                        if (handed.remove(h)) { // not discarded by a stop meanwhile
                            onResult.accept(result);
                        }
                    }, "%s", what);
                } catch (RejectedExecutionException closing) {
                    if (handed.remove(h)) {
                        discard.accept(result);
                    }
                }
            });
            return true;
        } catch (RejectedExecutionException stopped) {
            return false;
        }
    }

    private void handOverFailure(String what, Throwable e, OnTask<Throwable> onFailure) {
        try {
            mailbox.execute(() -> onFailure.accept(e), "%s failed", what);
        } catch (RejectedExecutionException closing) {
            LOG.info("{} failed while the task is closing: {}", what, e.toString());
        }
    }

    /**
     * Takes no more work, lets what was submitted run to its end (results it hands over when the task has closed are
     * discarded), waiting up to {@code timeout}; then {@link #stop}s with what is left of {@code timeout}.
     *
     * @return whether the thread ended
     */
    public boolean finish(Duration timeout) throws InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        thread.shutdown();
        thread.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS);
        return stop(Duration.ofNanos(Math.max(0, deadline - System.nanoTime())));
    }

    /**
     * Interrupts the work, waits up to {@code timeout} for the thread to end, and frees every result handed over but
     * not taken.
     *
     * @return whether the thread ended (if not, work may still use what the operator would free)
     */
    public boolean stop(Duration timeout) throws InterruptedException {
        thread.shutdownNow();
        boolean ended = thread.awaitTermination(timeout.toMillis(), TimeUnit.MILLISECONDS);
        for (Handed h : handed) {
            if (handed.remove(h)) {
                h.discard.accept(h.result);
            }
        }
        return ended;
    }
}
