package dev.crmn.jobs.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.RejectedExecutionException;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;

/**
 * Groups rows that arrive one at a time into micro-batches: a batch goes to the worker when it holds
 * {@code batchSize} rows or when its first row has waited {@code maxDelayMs}, whichever comes first. Batches run one
 * at a time on the worker, in order, while the next one fills. Each row's future completes with its batch's result
 * for it (or the batch's failure). Knows nothing of Flink or models.
 *
 * @param <I> a row's input
 * @param <O> a row's result
 */
final class RowBatcher<I, O> implements AutoCloseable {

    /** What a batch does: one result per input, in order. */
    @FunctionalInterface
    interface BatchWork<I, O> {
        List<O> run(List<I> inputs) throws Exception;
    }

    private record Pending<I, O>(I input, CompletableFuture<O> result) {
    }

    private final int batchSize;
    private final long maxDelayMs;
    private final BatchWork<I, O> work;
    private final ExecutorService worker;
    private final ScheduledExecutorService timer;
    private List<Pending<I, O>> open = new ArrayList<>();
    private long generation;
    private boolean closed;

    /**
     * @param worker the one thread batches run on (the caller owns it)
     * @param timer  where deadlines are kept (the caller owns it)
     */
    RowBatcher(int batchSize, long maxDelayMs, BatchWork<I, O> work, ExecutorService worker,
               ScheduledExecutorService timer) {
        if (batchSize < 1 || maxDelayMs < 0) {
            throw new IllegalArgumentException("batch size must be >= 1 and the delay >= 0");
        }
        this.batchSize = batchSize;
        this.maxDelayMs = maxDelayMs;
        this.work = work;
        this.worker = worker;
        this.timer = timer;
    }

    /** Adds a row to the open batch; the future completes when its batch has run. */
    synchronized CompletableFuture<O> add(I input) {
        CompletableFuture<O> result = new CompletableFuture<>();
        if (closed) {
            result.completeExceptionally(new IllegalStateException("the batcher is closed"));
            return result;
        }
        open.add(new Pending<>(input, result));
        if (open.size() >= batchSize || maxDelayMs == 0) {
            dispatch();
        } else if (open.size() == 1) {
            long g = generation;
            try {
                timer.schedule(() -> deadline(g), maxDelayMs, TimeUnit.MILLISECONDS);
            } catch (RejectedExecutionException stopping) {
                dispatch();
            }
        }
        return result;
    }

    private synchronized void deadline(long g) {
        if (g == generation && !open.isEmpty()) {
            dispatch();
        }
    }

    /** Hands the open batch to the worker (under the lock). */
    private void dispatch() {
        List<Pending<I, O>> batch = open;
        open = new ArrayList<>(batchSize);
        generation++;
        try {
            worker.execute(() -> run(batch));
        } catch (RejectedExecutionException stopping) {
            IllegalStateException e = new IllegalStateException("the batch worker has stopped");
            batch.forEach(p -> p.result().completeExceptionally(e));
        }
    }

    private void run(List<Pending<I, O>> batch) {
        List<I> inputs = new ArrayList<>(batch.size());
        for (Pending<I, O> p : batch) {
            inputs.add(p.input());
        }
        List<O> outputs;
        try {
            outputs = work.run(inputs);
            if (outputs.size() != batch.size()) {
                throw new IllegalStateException("a batch of " + batch.size() + " gave " + outputs.size() + " results");
            }
        } catch (Exception | Error e) {
            batch.forEach(p -> p.result().completeExceptionally(e));
            return;
        }
        for (int i = 0; i < batch.size(); i++) {
            batch.get(i).result().complete(outputs.get(i));
        }
    }

    /** Rows added from now on fail; the open batch is dropped (its rows are re-sent after a restore). */
    @Override
    public synchronized void close() {
        closed = true;
        IllegalStateException e = new IllegalStateException("the batcher closed");
        open.forEach(p -> p.result().completeExceptionally(e));
        open = new ArrayList<>();
        generation++;
    }
}
