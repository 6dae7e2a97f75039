package dev.crmn.jobs.inference;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.jobs.common.Metrics;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.jobs.common.TaskSetup;
import dev.crmn.jobs.common.TaskWorker;
import dev.crmn.model.infer.ClassScore;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.perf.CpuFastPath;
import dev.crmn.model.perf.NativeMemory;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.Histogram;
import org.apache.flink.metrics.Meter;
import org.apache.flink.metrics.MeterView;
import org.apache.flink.runtime.metrics.DescriptiveStatisticsHistogram;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.util.OutputTag;

/**
 * Classifies decoded frames in micro-batches and hot-swaps its model; input 1 is the frames, input 2 the
 * broadcast {@link ModelRef}s of the model-updates topic.
 *
 * <p><b>Batching</b> (the bundle pattern of Flink's own batching operators): frames are buffered and the
 * buffer is classified as one batch when it is full, when its oldest frame has waited {@code maxDelayMs} (a
 * processing-time timer armed when the buffer becomes non-empty), in {@link #prepareSnapshotPreBarrier}
 * (so no frame is ever buffered across a checkpoint: the buffer needs no state and every prediction of a
 * checkpoint is in that checkpoint's Kafka transaction), and at the end of input.
 *
 * <p><b>Hot-swap</b>: a ModelRef for the serving model's name with a higher version than any seen is handed to
 * a loader thread ({@link TaskWorker}, {@link ModelLoader}: fetch, verify, check input and classes, warm up); a model that passes
 * is handed back through the mailbox and becomes active between two batches (a reference change); the
 * replaced one is closed at once (its native memory freed). One that fails is refused: logged with the
 * reason, counted, and the current model keeps serving. The active ModelRef (and one still loading) are
 * operator state, so a restore serves with the same version and resumes an interrupted swap.
 *
 * <p>One network per subtask, created in {@link #open()} and used only on the task thread.
 */
public final class MicroBatchInferenceOperator extends AbstractStreamOperator<Prediction>
        implements TwoInputStreamOperator<DecodedFrame, ModelUpdate, Prediction> {

    /** Frames whose batch failed in the network even alone (reason {@code inference-failed}). */
    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("inference-dead-letters",
            TypeInformation.of(DeadLetter.class));

    /**
     * A shadow version's predictions of the same frames (issue #21): scored beside the serving version on every
     * batch, written to shadow-predictions, never to predictions.
     */
    public static final OutputTag<Prediction> SHADOW_PREDICTIONS = new OutputTag<>("shadow-predictions",
            TypeInformation.of(Prediction.class));

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(MicroBatchInferenceOperator.class);
    /** The task thread's CPU time around the network (the log line at close compares it with the wall time). */
    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    private final InferenceSettings settings;
    private final MailboxExecutor mailbox;

    private transient List<DecodedFrame> buffer;
    private transient long[] arrivalNanos;
    private transient long timerGeneration;
    private transient ModelLoader.LoadedModel active;
    private transient ModelRef loading;
    private transient long highestRequested;
    /** Load attempts per version that failed to read the store (reset when it loads or is given up). */
    private transient java.util.Map<Long, Integer> retries;
    /**
     * Versions rolled back while this subtask ran: never served again. Not state: after a restore the store's status
     * record (which a rollback records first) keeps them out.
     */
    private transient java.util.Set<Long> rolledBack;
    /** The shadow version scored beside the active one, or null; the one being loaded as the shadow, or null. */
    private transient ModelLoader.LoadedModel shadow;
    private transient ModelRef shadowLoading;
    /**
     * Shadow versions rejected while this subtask ran: never scored or served. Not state: after a restore the store's
     * status record (recorded before the rejection is announced) keeps them out.
     */
    private transient java.util.Set<Long> rejected;
    private transient ListState<ModelRef> shadowState;
    private transient ModelRef restoredShadow;
    private transient Counter shadowScored;
    /** Batches a shadow is owed ({@code --shadow-fraction} per batch; it scores one when a whole one is owed). */
    private transient double shadowCredit;
    static final int MAX_RETRIES = 5;
    private transient dev.crmn.jobs.common.BatchFallback fallback;
    private transient ModelLoader loader;
    private transient TaskWorker loaderThread;
    private transient ListState<ModelRef> activeState;
    private transient ListState<ModelRef> loadingState;
    private transient ModelRef restoredActive;
    private transient ModelRef restoredLoading;
    private transient Histogram batchSizes;
    private transient Histogram queueMs;
    private transient Histogram inferenceMs;
    private transient Counter classified;
    private transient Meter framesPerSecond;
    private transient Counter swaps;
    private transient Counter refused;
    private transient Counter inferenceFailed;
    private transient String backend;
    private transient long openedNanos;
    /** The task thread's CPU time when this operator opened (its whole use since is in the close log line). */
    private transient long openedCpuNanos;
    private transient long flushNanos;
    private transient long networkNanos;
    private transient long networkCpuNanos;
    private transient long batches;

    public MicroBatchInferenceOperator(StreamOperatorParameters<Prediction> parameters, InferenceSettings settings) {
        super(parameters);
        this.settings = settings;
        this.mailbox = parameters.getMailboxExecutor();
    }

    /** The union state of the version served (one ref per subtask). */
    static final String ACTIVE_STATE = "active-model-union";
    /** The union state of the version being loaded (at most one ref per subtask). */
    static final String LOADING_STATE = "loading-model-union";
    /** The union state of the shadow version scored (at most one ref per subtask). */
    static final String SHADOW_STATE = "shadow-model-union";

    /** The descriptor of the model-ref state {@code name}: explicit, versioned serializer (docs/operations.md). */
    static ListStateDescriptor<ModelRef> state(String name) {
        return new ListStateDescriptor<>(name, dev.crmn.jobs.common.state.ModelRefSerializer.INSTANCE);
    }

    /** The newest ref the last {@link #initializeState} restored as served, or null (for tests). */
    ModelRef restoredActive() {
        return restoredActive;
    }

    /** The newest ref the last {@link #initializeState} restored as the shadow, or null (for tests). */
    ModelRef restoredShadow() {
        return restoredShadow;
    }

    /** The newest ref the last {@link #initializeState} restored as loading, or null (for tests). */
    ModelRef restoredLoading() {
        return restoredLoading;
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        // union state: after a rescale every subtask gets every subtask's refs and serves the newest, so no subtask
        // (a new one included) goes back to the starting version; split state gave a new subtask nothing
        activeState = context.getOperatorStateStore().getUnionListState(state(ACTIVE_STATE));
        loadingState = context.getOperatorStateStore().getUnionListState(state(LOADING_STATE));
        shadowState = context.getOperatorStateStore().getUnionListState(state(SHADOW_STATE));
        if (context.isRestored()) {
            restoredShadow = newest(shadowState.get());
            // savepoints of earlier releases hold the refs as split state under the old names: read, then emptied
            ListState<ModelRef> oldActive = context.getOperatorStateStore().getListState(state("active-model"));
            ListState<ModelRef> oldLoading = context.getOperatorStateStore().getListState(state("loading-model"));
            restoredActive = newest(concat(activeState.get(), oldActive.get()));
            restoredLoading = newest(concat(loadingState.get(), oldLoading.get()));
            oldActive.clear();
            oldLoading.clear();
        }
    }

    private static List<ModelRef> concat(Iterable<ModelRef> a, Iterable<ModelRef> b) {
        List<ModelRef> out = new ArrayList<>();
        a.forEach(out::add);
        b.forEach(out::add);
        return out;
    }

    /** The highest version among restored refs (union state: every subtask's). */
    private static ModelRef newest(Iterable<ModelRef> refs) {
        ModelRef best = null;
        for (ModelRef r : refs) {
            if (best == null || r.version() > best.version()) {
                best = r;
            }
        }
        return best;
    }

    @Override
    public void open() throws Exception {
        super.open();
        String subtask = "inference " + (getRuntimeContext().getTaskInfo().getIndexOfThisSubtask() + 1) + "/"
                + getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks();
        CpuFastPath.Status status = TaskSetup.prepare(settings.threadsPerSubtask(),
                getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks(), subtask);
        ClassifierOptions engine = ClassifierOptions.of(settings.engine(), TaskSetup.ompThreads());
        backend = engine.engine() == ClassifierOptions.Engine.ONNXRUNTIME ? "onnxruntime cpu, " + engine.threads() + " thread(s)"
                : status.backend() + (status.onednnLoaded() ? " onednn" : " plain") + ", " + TaskSetup.ompThreads() + " thread(s)";
        buffer = new ArrayList<>(settings.batchSize());
        fallback = new dev.crmn.jobs.common.BatchFallback();
        arrivalNanos = new long[settings.batchSize()];
        retries = new java.util.HashMap<>();
        rolledBack = new java.util.HashSet<>();
        rejected = new java.util.HashSet<>();
        // the store root is not used to fetch: a ModelRef names its own location
        loader = new ModelLoader(StoreOptions.openCache(this, settings.initialModel().uri(), settings.signingKeyFile(),
                settings.keyFingerprint(), settings.modelCache()), settings.expected(), settings.batchSize(), engine);
        registerMetrics();
        openedNanos = System.nanoTime();
        openedCpuNanos = THREADS.getCurrentThreadCpuTime();
        // restored state (a failover, or a stopped local job started again) serves the version it served, unless the
        // job was started for another model or a newer version of it
        ModelRef initial = settings.initialModel();
        ModelRef first = restoredActive != null && restoredActive.name().equals(initial.name())
                && restoredActive.version() >= initial.version() ? restoredActive : initial;
        if (first != initial) {
            try {
                active = loader.load(first);
            } catch (ModelLoader.Refused e) { // deleted from the store, or no longer verifies: not a restart loop
                LOG.warn("{}: the restored {} cannot serve ({}); serving the starting {} instead", subtask,
                        first.displayName(), e.getMessage(), initial.displayName());
                first = initial;
            }
        }
        if (active == null) {
            active = loader.load(first); // no model, no serving: a failure here fails the task (and it restarts)
        }
        if (engine.engine() == ClassifierOptions.Engine.CUDA) {
            backend = active.classifier().network().describe(); // the device, its libraries, the precision
        }
        highestRequested = first.version();
        LOG.info("{}: serving {} ({})", subtask, first.displayName(), backend);
        loaderThread = new TaskWorker("crmn-model-loader-" + subtask, getUserCodeClassloader(), mailbox);
        if (restoredLoading != null) {
            follow(restoredLoading); // a swap the restore interrupted, if still newer
        }
        if (restoredShadow != null) {
            shadow(restoredShadow); // scored again (unless the store says it was rejected meanwhile)
        }
    }

    private void registerMetrics() {
        var g = getMetricGroup();
        batchSizes = g.histogram(Metrics.BATCH_SIZE, new DescriptiveStatisticsHistogram(1000));
        queueMs = g.histogram(Metrics.QUEUE_TIME_MS, new DescriptiveStatisticsHistogram(1000));
        inferenceMs = g.histogram(Metrics.INFERENCE_TIME_MS, new DescriptiveStatisticsHistogram(1000));
        classified = g.counter(Metrics.FRAMES_CLASSIFIED);
        framesPerSecond = g.meter(Metrics.FRAMES_PER_SECOND, new MeterView(classified));
        swaps = g.counter(Metrics.SWAPS);
        refused = g.counter(Metrics.SWAPS_REFUSED);
        inferenceFailed = Metrics.deadLetterCounters(g).get(DeadLetterReason.INFERENCE_FAILED);
        g.gauge(Metrics.ACTIVE_MODEL_VERSION, () -> active == null ? -1L : active.ref().version());
        g.gauge(Metrics.SHADOW_MODEL_VERSION, () -> shadow == null ? -1L : shadow.ref().version());
        shadowScored = g.counter(Metrics.SHADOW_FRAMES_SCORED);
        g.gauge(Metrics.BACKEND, () -> backend);
        g.gauge(Metrics.NATIVE_ARRAY_BYTES, NativeMemory::ndArrayBytes);
    }

    @Override
    public void processElement1(StreamRecord<DecodedFrame> element) throws Exception {
        if (buffer.isEmpty()) {
            long generation = ++timerGeneration;
            long now = getProcessingTimeService().getCurrentProcessingTime();
            getProcessingTimeService().registerTimer(now + settings.maxDelayMs(), t -> {
                if (generation == timerGeneration) { // this buffer has not been flushed since
                    flush();
                }
            });
        }
        arrivalNanos[buffer.size()] = System.nanoTime();
        buffer.add(element.getValue());
        if (buffer.size() >= settings.batchSize()) {
            flush();
        }
    }

    @Override
    public void processElement2(StreamRecord<ModelUpdate> element) {
        ModelUpdate u = element.getValue();
        switch (u.action()) {
            case ROLLBACK -> rollback(u);
            case SHADOW -> shadow(u.ref());
            case REJECT -> reject(u.ref());
            default -> follow(u.ref());
        }
    }

    /**
     * Starts scoring {@code r} beside the serving version (loaded on the loader thread; it replaces an older shadow).
     * Ignored for another model, a version not newer than the one served, one rolled back or rejected, or when the
     * job has no shadow-predictions topic.
     */
    private void shadow(ModelRef r) {
        if (!settings.shadows()) {
            LOG.warn("ignoring the shadow {}: this job has no shadow-predictions topic", r.displayName());
            return;
        }
        if (!r.name().equals(active.ref().name()) || r.version() <= active.ref().version() || rolledBack.contains(r.version())
                || rejected.contains(r.version()) || (shadow != null && shadow.ref().version() >= r.version())
                || (shadowLoading != null && shadowLoading.version() >= r.version())) {
            LOG.info("ignoring the shadow {}: {} serves{}", r.displayName(), active.ref().displayName(),
                    shadow == null ? "" : ", " + shadow.ref().displayName() + " is the shadow");
            return;
        }
        shadowLoading = r;
        LOG.info("loading the shadow {} from {}", r.displayName(), r.uri());
        loaderThread.submit("load the shadow " + r.displayName(), () -> loader.load(r), m -> {
            if (shadowLoading != null && shadowLoading.version() == m.ref().version()) {
                shadowLoading = null;
            }
            if (rejected.contains(m.ref().version()) || m.ref().version() <= active.ref().version()
                    || (shadow != null && shadow.ref().version() >= m.ref().version())) {
                m.close(); // rejected, served or superseded while it loaded
                return;
            }
            if (shadow != null) {
                shadow.close();
            }
            shadow = m;
            LOG.info("scoring the shadow {} beside {}", m.ref().displayName(), active.ref().displayName());
        }, e -> {
            if (shadowLoading != null && shadowLoading.version() == r.version()) {
                shadowLoading = null;
            }
            refused.inc();
            LOG.warn("refused the shadow {}: {}", r.displayName(), e.getMessage());
        }, ModelLoader.LoadedModel::close);
    }

    /** The shadow {@code r} was rejected: no longer scored, never served; its memory goes now. */
    private void reject(ModelRef r) {
        if (!r.name().equals(active.ref().name())) {
            return;
        }
        rejected.add(r.version());
        if (shadowLoading != null && shadowLoading.version() == r.version()) {
            shadowLoading = null; // closed when its load comes back
        }
        if (shadow != null && shadow.ref().version() == r.version()) {
            shadow.close();
            shadow = null;
            LOG.info("the shadow {} was rejected: no longer scored", r.displayName());
        }
    }

    /** Loads {@code r} if it is a newer version of the served model than any requested; ignores it otherwise. */
    private void follow(ModelRef r) {
        if (!r.name().equals(active.ref().name())) {
            LOG.info("ignoring {}: this job serves {}", r.displayName(), active.ref().name());
            return;
        }
        if (shadow != null && shadow.ref().version() == r.version() && !rolledBack.contains(r.version())) {
            ModelLoader.LoadedModel m = shadow; // the shadow is announced to serve: it is loaded already
            shadow = null;
            highestRequested = Math.max(highestRequested, r.version());
            replaceActive(m, "the shadow serves:");
            return;
        }
        if (rolledBack.contains(r.version())) {
            LOG.info("ignoring {}: it was rolled back", r.displayName());
            return;
        }
        if (r.version() <= highestRequested) {
            LOG.debug("ignoring {}: version {} is active or was requested already", r.displayName(), highestRequested);
            return;
        }
        request(r);
    }

    /** Starts loading {@code r} on the loader thread; the result comes back through the mailbox. */
    private void request(ModelRef r) {
        highestRequested = Math.max(highestRequested, r.version());
        loading = r;
        LOG.info("loading {} from {}", r.displayName(), r.uri());
        loaderThread.submit("load " + r.displayName(),
                () -> r.version() < highestRequested ? null : loader.load(r), // null: a newer one was requested meanwhile
                this::swap,
                e -> refuse(r, e instanceof ModelLoader.Refused refusal ? refusal
                        : new ModelLoader.Refused("loading " + r.displayName() + " failed: " + e, e)),
                ModelLoader.LoadedModel::close);
    }

    /**
     * A rollback: serve {@code u.ref()} (an older version) instead of {@code u.replaces()} now, and never that one
     * again; the highest-requested mark does not block it. Nothing to do when this subtask already serves the target,
     * or a version newer than the rolled-back one (a later announcement superseded it).
     */
    private void rollback(ModelUpdate u) {
        ModelRef to = u.ref();
        if (!to.name().equals(active.ref().name())) {
            LOG.info("ignoring the rollback to {}: this job serves {}", to.displayName(), active.ref().name());
            return;
        }
        rolledBack.add(u.replaces());
        highestRequested = Math.max(highestRequested, u.replaces()); // a later announcement of it is ignored
        long served = active.ref().version();
        if (served > u.replaces() || served == to.version()) {
            LOG.info("rollback of v{} to {}: nothing to do, {} serves", u.replaces(), to.displayName(), active.ref().displayName());
            return;
        }
        LOG.info("rolling back v{} to {} ({}), loading it from {}", u.replaces(), to.displayName(), u.reason(), to.uri());
        loading = to;
        loaderThread.submit("roll back to " + to.displayName(), () -> loader.load(to), m -> {
            if (active.ref().version() > u.replaces() || active.ref().version() == m.ref().version()) {
                m.close(); // superseded while it loaded
            } else {
                replaceActive(m, "rolled back");
            }
        }, e -> refuse(to, e instanceof ModelLoader.Refused refusal ? refusal
                : new ModelLoader.Refused("loading " + to.displayName() + " failed: " + e, e)), ModelLoader.LoadedModel::close);
    }

    /**
     * On the task thread, between two batches: the loaded model becomes the active one, unless a newer one is
     * active already (loaded after it, swapped in before) or it was rolled back while it loaded: then it is closed,
     * its memory freed at once.
     */
    private void swap(ModelLoader.LoadedModel m) {
        if (m.ref().version() <= active.ref().version() || rolledBack.contains(m.ref().version())) {
            m.close();
            return;
        }
        replaceActive(m, "swapped");
    }

    /** On the task thread: {@code m} serves from the next batch on; the replaced model's memory goes now. */
    private void replaceActive(ModelLoader.LoadedModel m, String what) {
        ModelLoader.LoadedModel old = active;
        active = m;
        retries.keySet().removeIf(v -> v <= m.ref().version());
        if (loading != null && loading.version() <= m.ref().version()) {
            loading = null;
        }
        old.close(); // no batch uses it any more: its native memory goes now
        if (shadow != null && shadow.ref().version() <= m.ref().version()) {
            shadow.close(); // a shadow no newer than what serves has nothing left to show
            shadow = null;
        }
        swaps.inc();
        LOG.info("{} {} -> {}", what, old.ref().displayName(), m.ref().displayName());
    }

    /**
     * On the task thread: {@code r} could not be loaded. The highest requested version goes back down (unless a newer
     * one was requested meanwhile), so a later announcement of it is tried again instead of ignored; a store that
     * could not be read is tried again by itself after a backoff (1, 2, 4, 8, 16 s), as long as nothing newer came.
     */
    private void refuse(ModelRef r, ModelLoader.Refused e) {
        refused.inc();
        if (loading != null && loading.version() == r.version()) {
            loading = null;
        }
        if (highestRequested == r.version()) {
            highestRequested = active.ref().version();
        }
        int attempt = retries.merge(r.version(), 1, Integer::sum);
        if (e.retryable() && attempt <= MAX_RETRIES) {
            long delay = 1000L << (attempt - 1);
            LOG.warn("refused {}: {}; {} keeps serving; trying again in {} s (attempt {} of {})", r.displayName(),
                    e.getMessage(), active.ref().displayName(), delay / 1000, attempt + 1, MAX_RETRIES + 1);
            getProcessingTimeService().registerTimer(getProcessingTimeService().getCurrentProcessingTime() + delay, t -> {
                if (r.version() > highestRequested && r.version() > active.ref().version()) {
                    request(r);
                }
            });
        } else {
            retries.remove(r.version());
            LOG.warn("refused {}: {}; {} keeps serving", r.displayName(), e.getMessage(), active.ref().displayName());
        }
    }

    /** Classifies the buffered frames as one batch and emits one prediction per frame. */
    private void flush() {
        if (buffer.isEmpty()) {
            return;
        }
        timerGeneration++;
        long start = System.nanoTime();
        long cpuStart = THREADS.getCurrentThreadCpuTime();
        int n = buffer.size();
        List<dev.crmn.model.data.PixelImage> images = new ArrayList<>(n);
        for (DecodedFrame f : buffer) {
            images.add(f.image());
        }
        Classifier c = active.classifier();
        // a frame failing alone is a dead letter; a broken network fails the task (BatchFallback)
        float[][] p = fallback.probabilities(c, images, active.ref().displayName(), i -> "frame " + buffer.get(i).frameId());
        long inferenceNanos = System.nanoTime() - start;
        networkNanos += inferenceNanos;
        networkCpuNanos += THREADS.getCurrentThreadCpuTime() - cpuStart;
        double inference = inferenceNanos / 1e6;
        long now = System.currentTimeMillis();
        ModelRef ref = active.ref();
        Prediction.ModelInfo model = new Prediction.ModelInfo(ref.name(), ref.version(), ref.sha256());
        for (int i = 0; i < n; i++) {
            DecodedFrame f = buffer.get(i);
            double queue = (start - arrivalNanos[i]) / 1e6;
            queueMs.update(Math.round(queue));
            if (p[i] == null) {
                inferenceFailed.inc();
                output.collect(DEAD_LETTERS, new StreamRecord<>(new DeadLetter(f.original(), DeadLetterReason.INFERENCE_FAILED,
                        "the network failed on this frame with " + ref.displayName())));
                continue;
            }
            List<ClassScore> top = Classifier.topK(p[i], settings.topK(), c.labels());
            output.collect(new StreamRecord<>(new Prediction(PredictionJson.CURRENT_SCHEMA, f.frameId(), f.key(),
                    new Prediction.Source(f.topic(), f.partition(), f.offset()), top.toArray(new ClassScore[0]), model, n,
                    new Prediction.Timings(queue, inference, Math.max(0, now - f.timestamp())),
                    f.eventTime() < 0 ? null : f.eventTime(), f.hasLabel() ? f.label() : null, now)));
        }
        if (shadow != null) {
            shadowCredit += settings.shadowFraction();
            if (shadowCredit >= 1 - 1e-9) {
                shadowCredit -= 1;
                scoreShadow(images, now);
            }
        }
        classified.inc(n);
        batchSizes.update(n);
        inferenceMs.update(Math.round(inference));
        buffer.clear();
        batches++;
        flushNanos += System.nanoTime() - start;
    }

    /**
     * The shadow's predictions of the batch's frames, to {@link #SHADOW_PREDICTIONS}. A shadow that fails is dropped
     * (said in the log): it must never hurt the serving version's predictions.
     */
    private void scoreShadow(List<dev.crmn.model.data.PixelImage> images, long now) {
        long start = System.nanoTime();
        float[][] p;
        try {
            p = shadow.classifier().probabilities(images);
        } catch (RuntimeException e) {
            LOG.warn("the shadow {} failed on a batch ({}): no longer scored", shadow.ref().displayName(), e.toString());
            shadow.close();
            shadow = null;
            return;
        }
        double inference = (System.nanoTime() - start) / 1e6;
        ModelRef ref = shadow.ref();
        Prediction.ModelInfo model = new Prediction.ModelInfo(ref.name(), ref.version(), ref.sha256());
        for (int i = 0; i < p.length; i++) {
            DecodedFrame f = buffer.get(i);
            List<ClassScore> top = Classifier.topK(p[i], settings.topK(), shadow.classifier().labels());
            output.collect(SHADOW_PREDICTIONS, new StreamRecord<>(new Prediction(PredictionJson.CURRENT_SCHEMA, f.frameId(),
                    f.key(), new Prediction.Source(f.topic(), f.partition(), f.offset()), top.toArray(new ClassScore[0]),
                    model, p.length, new Prediction.Timings(0, inference, Math.max(0, now - f.timestamp())),
                    f.eventTime() < 0 ? null : f.eventTime(), f.hasLabel() ? f.label() : null, now)));
        }
        shadowScored.inc(p.length);
    }

    @Override
    public void prepareSnapshotPreBarrier(long checkpointId) throws Exception {
        super.prepareSnapshotPreBarrier(checkpointId);
        flush(); // nothing is buffered across a checkpoint
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        activeState.update(List.of(active.ref()));
        loadingState.update(loading == null ? List.of() : List.of(loading));
        shadowState.update(shadow != null ? List.of(shadow.ref()) : shadowLoading != null ? List.of(shadowLoading) : List.of());
    }

    @Override
    public void finish() throws Exception {
        flush();
        super.finish();
    }

    @Override
    public void close() throws Exception {
        if (openedNanos > 0 && batches > 0) {
            double open = (System.nanoTime() - openedNanos) / 1e9;
            // close() runs on the task thread, as open() did: the thread's CPU in between is the operator chain's
            // whole work (the network, deserializing, batching, the predictions' sink writer, checkpoints)
            LOG.info("classified {} frames in {} batches (mean {}); network {} s ({} s on the CPU), flushing {} s of {} s"
                            + " open; the task thread's CPU {} s", classified.getCount(), batches,
                    String.format("%.1f", (double) classified.getCount() / batches), String.format("%.1f", networkNanos / 1e9),
                    String.format("%.1f", networkCpuNanos / 1e9), String.format("%.1f", flushNanos / 1e9),
                    String.format("%.1f", open), String.format("%.1f", (THREADS.getCurrentThreadCpuTime() - openedCpuNanos) / 1e9));
        }
        try {
            if (loaderThread != null && !loaderThread.stop(java.time.Duration.ofSeconds(30))) {
                LOG.warn("the model loader did not stop within 30 s; a model it is loading is not freed under it");
            }
            if (active != null) {
                active.close();
                active = null;
            }
            if (shadow != null) {
                shadow.close();
                shadow = null;
            }
        } finally {
            super.close();
        }
    }
}
