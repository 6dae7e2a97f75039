package dev.crmn.jobs.sql;

import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.FrameRejectedException;
import dev.crmn.connectors.format.Headers;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.image.DecoderSettings;
import dev.crmn.connectors.store.ModelCache;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.jobs.common.TaskSetup;
import dev.crmn.jobs.inference.ModelLoader;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import java.io.Serializable;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import org.apache.flink.metrics.Counter;
import org.apache.flink.table.data.RowData;
import org.apache.flink.table.functions.AsyncPredictFunction;
import org.apache.flink.table.functions.FunctionContext;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * {@code ML_PREDICT} with a crmn model: each row's image is added to a micro-batch ({@link RowBatcher}: by size and
 * deadline); a batch is decoded and classified on one worker thread per subtask while the task thread goes on
 * handing rows over, and every row's future completes with its output row. A row that cannot be decoded or
 * classified gets NULL outputs and its reason in {@code error}: bad input never fails the job. With {@code follow}
 * the function swaps to each version announced for its model between two batches (the new one loaded and warmed up
 * beside the serving one, the old one freed after the swap).
 *
 * <p>Rows in flight are Flink's: the async operator keeps each row it handed over in its checkpoint until its
 * result came back and re-sends those after a restore; the open batch here is dropped on a failure, never written
 * anywhere.
 */
public final class CrmnPredictFunction extends AsyncPredictFunction {

    private static final Logger LOG = LoggerFactory.getLogger(CrmnPredictFunction.class);

    /** What the planner decided, shipped to the TaskManagers. */
    record Settings(ModelRef model, ModelLoader.Expected expected, StoreOptions.Location store, String engine,
                    int batchSize, long maxDelayMs, int topK, String followTopic, String followServers,
                    DecoderSettings decoder, PredictColumns columns, boolean contentTypeColumn) implements Serializable {

        /** These settings with batches of at most {@code rows}. */
        Settings withBatchSize(int rows) {
            return new Settings(model, expected, store, engine, rows, maxDelayMs, topK, followTopic, followServers,
                    decoder, columns, contentTypeColumn);
        }
    }

    /** One row's input: the image bytes and the content type the row gave (null: sniffed). */
    private record Input(byte[] image, String contentType) {
    }

    private final Settings settings;

    private transient ExecutorService worker;
    private transient ScheduledExecutorService timer;
    private transient RowBatcher<Input, Collection<RowData>> batcher;
    private transient ModelLoader loader;
    private transient FrameDecoder decoder;
    private transient dev.crmn.jobs.common.BatchFallback fallback;
    private transient ModelFollower follower;
    private transient volatile ModelLoader.LoadedModel active;
    private transient String subtask;
    private transient Counter predicted;
    private transient Counter failedRows;
    private transient Counter swaps;
    private transient int errorsLogged;

    CrmnPredictFunction(Settings settings) {
        this.settings = settings;
    }

    @Override
    public void open(FunctionContext context) throws Exception {
        super.open(context);
        try {
            start(context);
        } catch (Exception | Error e) { // threads or a model already there are not left behind
            try {
                close();
            } catch (Exception suppressed) {
                e.addSuppressed(suppressed);
            }
            throw e;
        }
    }

    private void start(FunctionContext context) throws Exception {
        int parallelism = context.getTaskInfo().getNumberOfParallelSubtasks();
        subtask = "ML_PREDICT " + settings.model().name() + " " + (context.getTaskInfo().getIndexOfThisSubtask() + 1)
                + "/" + parallelism;
        ClassLoader userCode = context.getUserCodeClassLoader();
        worker = TaskSetup.worker("crmn-sql-batches", userCode);
        timer = Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "crmn-sql-deadlines");
            t.setDaemon(true);
            return t;
        });
        ClassifierOptions engine = onWorker(() -> {
            TaskSetup.prepare(0, parallelism, subtask);
            return ClassifierOptions.of(settings.engine(), TaskSetup.ompThreads());
        });
        // a function is not told the TaskManager's io.tmp.dirs: the JVM's temporary directory
        ModelCache cache = StoreOptions.openCache(settings.store(), null, Path.of(System.getProperty("java.io.tmpdir")));
        loader = new ModelLoader(cache, settings.expected(), settings.batchSize(), engine);
        try {
            active = onWorker(() -> loader.load(settings.model()));
        } catch (ExecutionException e) {
            throw new IllegalStateException(subtask + ": cannot serve " + settings.model().displayName() + ": "
                    + e.getCause().getMessage(), e.getCause());
        }
        ModelLoader.Expected x = settings.expected();
        decoder = new FrameDecoder(x.height(), x.width(), x.channels(), x.labels(), false, settings.decoder());
        fallback = new dev.crmn.jobs.common.BatchFallback();
        predicted = context.getMetricGroup().counter("predictions");
        failedRows = context.getMetricGroup().counter("failedRows");
        swaps = context.getMetricGroup().counter("modelSwaps");
        context.getMetricGroup().gauge("modelVersion", () -> active == null ? -1L : active.ref().version());
        batcher = new RowBatcher<>(settings.batchSize(), settings.maxDelayMs(), this::classify, worker, timer);
        LOG.info("{}: serving {} on {}, batches of up to {} rows or {} ms", subtask, active.ref().displayName(),
                engine.engine().wireName(), settings.batchSize(), settings.maxDelayMs());
        if (settings.followTopic() != null) {
            follower = new ModelFollower(settings.followServers(), settings.followTopic(), settings.model().name(),
                    () -> TaskSetup.prepare(0, parallelism, subtask + " (loading)"), this::announced, userCode);
            follower.start();
        }
    }

    private <T> T onWorker(java.util.concurrent.Callable<T> work) throws Exception {
        return worker.submit(work).get();
    }

    /** On the task thread: the row joins the open batch (a NULL image too: its outcome is said with the batch's). */
    @Override
    public CompletableFuture<Collection<RowData>> asyncPredict(RowData row) {
        String type = settings.contentTypeColumn() && !row.isNullAt(1) ? row.getString(1).toString() : null;
        return batcher.add(new Input(row.isNullAt(0) ? null : row.getBinary(0), type));
    }

    /**
     * A batch, on the worker thread (the only thread that touches the decoder, the network and the counters): decode
     * every row, classify the decodable ones together.
     */
    private List<Collection<RowData>> classify(List<Input> inputs) {
        List<Collection<RowData>> out = new ArrayList<>(inputs.size());
        List<PixelImage> images = new ArrayList<>(inputs.size());
        int[] slot = new int[inputs.size()];
        for (int i = 0; i < inputs.size(); i++) {
            Input in = inputs.get(i);
            if (in.image() == null) {
                slot[i] = -1;
                out.add(List.of(failed("no-image", "the image column is NULL")));
                continue;
            }
            try {
                images.add(decoder.decode(frame(in)).image());
                slot[i] = images.size() - 1;
                out.add(null);
            } catch (FrameRejectedException e) {
                slot[i] = -1;
                out.add(List.of(failed(e.reason().wireName(), e.getMessage())));
            }
        }
        if (images.isEmpty()) {
            return out;
        }
        ModelLoader.LoadedModel m = active;
        Classifier c = m.classifier();
        // an image failing alone is an error row; a broken network fails the task (BatchFallback)
        float[][] p = fallback.probabilities(c, images, m.ref().displayName(), i -> subtask + ": an image");
        for (int i = 0; i < inputs.size(); i++) {
            if (slot[i] < 0) {
                continue;
            }
            float[] row = p[slot[i]];
            out.set(i, List.of(row == null ? failed("inference-failed", "the network failed on this image with "
                    + m.ref().displayName()) : settings.columns().row(new PredictColumns.Outcome(
                    Classifier.topK(row, settings.topK(), c.labels()), m.ref().name(), m.ref().version(), null))));
            if (row != null) {
                predicted.inc();
            }
        }
        return out;
    }

    private Frame frame(Input in) {
        String[] keys = in.contentType() == null ? new String[0] : new String[] {Headers.CONTENT_TYPE};
        byte[][] values = in.contentType() == null ? new byte[0][]
                : new byte[][] {in.contentType().getBytes(StandardCharsets.UTF_8)};
        return new Frame("ML_PREDICT", 0, 0, 0, null, in.image(), keys, values);
    }

    private RowData failed(String reason, String message) {
        failedRows.inc();
        if (!settings.columns().hasError() && errorsLogged < 10) {
            errorsLogged++;
            LOG.warn("{}: a row got NULL outputs ({}: {}); add an 'error STRING' OUTPUT column to see why per row",
                    subtask, reason, message);
        }
        return settings.columns().row(PredictColumns.Outcome.failed(reason + ": " + message));
    }

    /** On the follower's thread: load an announced version beside the serving one, then swap between batches. */
    private void announced(ModelRef ref) {
        ModelLoader.LoadedModel serving = active;
        if (serving != null && serving.ref().version() == ref.version() && serving.ref().sha256().equals(ref.sha256())) {
            return;
        }
        ModelLoader.LoadedModel next;
        try {
            next = loader.load(ref);
        } catch (ModelLoader.Refused e) {
            LOG.warn("{}: not swapping to {}: {}", subtask, ref.displayName(), e.getMessage());
            return;
        }
        try {
            worker.execute(() -> {
                ModelLoader.LoadedModel old = active;
                active = next;
                swaps.inc();
                LOG.info("{}: swapped {} -> {}", subtask, old.ref().displayName(), next.ref().displayName());
                old.close();
            });
        } catch (java.util.concurrent.RejectedExecutionException closing) {
            next.close();
        }
    }

    /** Stops the follower, the batcher and the threads, then frees the serving model; safe to call again. */
    @Override
    public void close() throws Exception {
        if (follower != null) {
            follower.close();
            follower = null;
        }
        if (batcher != null) {
            batcher.close();
        }
        if (timer != null) {
            timer.shutdownNow();
            timer.awaitTermination(1, TimeUnit.MINUTES);
        }
        if (worker != null) {
            worker.shutdown();
            if (!worker.awaitTermination(1, TimeUnit.MINUTES)) {
                LOG.warn("{}: a batch is still running after a minute; its model is not freed", subtask);
                return;
            }
        }
        ModelLoader.LoadedModel m = active;
        active = null;
        if (m != null) {
            m.close();
        }
        super.close();
    }
}
