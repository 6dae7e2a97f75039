package dev.crmn.jobs.finetune;

import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.ModelCache;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.jobs.common.TaskSetup;
import dev.crmn.jobs.common.TaskWorker;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.eval.EvaluationReport;
import dev.crmn.model.eval.Evaluator;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.train.FineTuneSettings;
import dev.crmn.model.train.FineTuning;
import dev.crmn.model.util.MoreFiles;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.UUID;
import java.util.concurrent.atomic.AtomicBoolean;
import org.apache.flink.api.common.operators.MailboxExecutor;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.metrics.Counter;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.runtime.state.StateSnapshotContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a labelled stream into better model versions, safely (parallelism 1). Input 1: decoded labelled frames;
 * input 2: the model-updates topic. Output: the {@link ModelRef} of every promoted version, once.
 *
 * <ul>
 *   <li><b>Data.</b> Each frame goes, by a hash of its pixels, to the holdout ({@code holdout-percent} of them;
 *       a bounded, rotating {@link Holdout}) or to training: the new frames since the last round (capped), and a
 *       bounded replay reservoir over every training frame seen. All of it is operator state: a restart loses none
 *       of it.</li>
 *   <li><b>Rounds.</b> When {@code round-frames} new frames have arrived, or {@code round-interval} has passed
 *       with some, a round fine-tunes the serving model (weights and optimiser state) for {@code round-steps}
 *       steps on the new frames plus as many replay samples ({@link FineTuning}), on a trainer thread: the task
 *       thread keeps taking frames and checkpoints meanwhile. The result comes back through the mailbox.</li>
 *   <li><b>Gate.</b> The candidate and the serving model are evaluated on the same holdout; the candidate is
 *       promoted only if the {@link PromotionGate}'s paired test says it is better (and its outputs are finite).
 *       With no new frames, rounds go on over the reservoir until {@code patience} refusals in a row.</li>
 *   <li><b>Promotion.</b> The version number is the next above both the store's and the job's own; the checkpoint
 *       (lineage: parent, offsets trained on, steps, settings, holdout metrics) is kept in state, and published
 *       to the store and announced when the checkpoint holding it completes. After a failure the restored state
 *       publishes it again (a no-op for the same bytes) and announces it in the next transaction: no number is
 *       published twice and every published version is announced exactly once.</li>
 *   <li><b>Following.</b> A newer version of the model announced by someone else becomes the base (between
 *       rounds).</li>
 * </ul>
 */
public final class TrainerOperator extends AbstractStreamOperator<ModelRef>
        implements TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> {

    private static final Logger LOG = LoggerFactory.getLogger(TrainerOperator.class);
    private static final long SEED = 0x5eed;

    private final RoundSettings settings;
    private final MailboxExecutor mailbox;

    private transient ListState<Example> reservoirState;
    private transient ListState<Holdout.Held> holdoutState;
    private transient ListState<Example> freshState;
    private transient ListState<Long> countersState;
    private transient ListState<ModelRef> baseState;
    private transient ListState<PendingVersion> pendingState;

    private transient Reservoir reservoir;
    private transient Holdout holdout;
    private transient List<Example> fresh;
    private transient long lastVersion;
    private transient long rounds;
    private transient ModelRef baseRef;
    private transient Checkpoints.Loaded base;
    private transient List<PendingVersion> pending;
    private transient Map<Long, Long> snapshottedIn;
    private transient ModelRef deferredBase;
    /** Whether {@code deferredBase} is a rollback's target (adopted though older than the base). */
    private transient boolean deferredRollback;
    /**
     * Candidates refused without progress (no better than the serving model on the holdout) since the last promotion
     * or round on new frames: quiet rounds stop at the patience.
     */
    private transient int refusedInARow;
    /** A round found the holdout too small (and said so); rounds wait for it to grow. */
    private transient boolean waitingForHoldout;
    /** The announced version being loaded as the base, until it is. */
    private transient ModelRef adopting;
    private transient ListState<ModelRef> adoptionState;
    /** The newest announced version a restored state had not adopted yet, or null. */
    private transient ModelRef restoredAdoption;
    private transient boolean running;
    /**
     * The learner: one fine-tuning run that goes on across rounds at a constant learning rate, its weight average
     * the candidate of each round. Used on the trainer thread only; not in state (after a restore it starts again
     * from the serving version).
     */
    private transient FineTuning learner;
    /** Counts the bases adopted from elsewhere (task thread); a round under a newer one starts a new learner. */
    private transient long adoptions;
    /** {@link #adoptions} when the learner started (trainer thread). */
    private transient long learnerAdoptions;
    private transient long lastRoundEnd;
    /** The {@link Anchor}'s images (configuration: read from its files when the task opens), or none. */
    private transient List<Example> anchorExamples;
    private transient ModelStore store;
    private transient ModelCache cache;
    private transient TaskWorker trainer;
    /** Publishes promoted versions to the store, off the task thread (object stores are slow). */
    private transient TaskWorker publisher;
    /** Versions handed to the publisher and not announced yet (still in {@code pending}, so in every checkpoint). */
    private transient java.util.Set<Long> publishing;
    private transient AtomicBoolean stop;
    private transient Counter roundsCounter;
    private transient Counter promotions;
    private transient Counter refusals;
    private transient volatile double lastBaseAccuracy = Double.NaN;
    private transient volatile double lastCandidateAccuracy = Double.NaN;

    public TrainerOperator(StreamOperatorParameters<ModelRef> parameters, RoundSettings settings) {
        super(parameters);
        this.settings = settings;
        this.mailbox = parameters.getMailboxExecutor();
    }

    /** What {@link #initializeState} restored, for tests. */
    record Restored(List<Example> reservoir, long reservoirSeen, List<Example> holdout, long holdoutSeen,
                    List<Example> newFrames, long lastVersion, long rounds, ModelRef base, List<PendingVersion> pending,
                    ModelRef adoption, List<Integer> holdoutUses) {
    }

    Restored restored() {
        return new Restored(reservoir.items(), reservoir.seen(), holdout.examples(), holdout.seen(), List.copyOf(fresh),
                lastVersion, rounds, baseRef, List.copyOf(pending), restoredAdoption,
                holdout.items().stream().map(Holdout.Held::uses).toList());
    }

    static final String RESERVOIR_STATE = "reservoir";
    /** Release 0.1's holdout (examples only; read, then emptied). */
    static final String HOLDOUT_STATE = "holdout";
    /** The holdout with the rounds each image has decided. */
    static final String ROTATING_HOLDOUT_STATE = "holdout-rotating";

    static ListStateDescriptor<Holdout.Held> rotatingHoldout() {
        return new ListStateDescriptor<>(ROTATING_HOLDOUT_STATE, HeldSerializer.INSTANCE);
    }
    static final String NEW_FRAMES_STATE = "new-frames";

    // the state's descriptors, each with an explicit, versioned serializer (docs/operations.md)

    static ListStateDescriptor<Example> examples(String name) {
        return new ListStateDescriptor<>(name, ExampleSerializer.INSTANCE);
    }

    /** Reservoir seen, holdout seen, last version, rounds. */
    static ListStateDescriptor<Long> counters() {
        return new ListStateDescriptor<>("counters",
                org.apache.flink.api.common.typeutils.base.LongSerializer.INSTANCE);
    }

    static ListStateDescriptor<ModelRef> baseModel() {
        return new ListStateDescriptor<>("base-model", dev.crmn.jobs.common.state.ModelRefSerializer.INSTANCE);
    }

    /** An announced version not adopted yet (announced during a round, or being loaded). */
    static ListStateDescriptor<ModelRef> adoption() {
        return new ListStateDescriptor<>("adoption", dev.crmn.jobs.common.state.ModelRefSerializer.INSTANCE);
    }

    static ListStateDescriptor<PendingVersion> pendingVersions() {
        return new ListStateDescriptor<>("pending-versions", PendingVersionSerializer.INSTANCE);
    }

    @Override
    public void initializeState(StateInitializationContext context) throws Exception {
        super.initializeState(context);
        var states = context.getOperatorStateStore();
        reservoirState = states.getListState(examples(RESERVOIR_STATE));
        holdoutState = states.getListState(rotatingHoldout());
        ListState<Example> oldHoldout = states.getListState(examples(HOLDOUT_STATE));
        List<Holdout.Held> held = list(holdoutState.get());
        for (Example e : oldHoldout.get()) {
            held.add(new Holdout.Held(e, 0)); // a holdout of an earlier release: no round counted yet
        }
        oldHoldout.clear();
        freshState = states.getListState(examples(NEW_FRAMES_STATE));
        countersState = states.getListState(counters());
        baseState = states.getListState(baseModel());
        pendingState = states.getListState(pendingVersions());
        adoptionState = states.getListState(adoption());
        for (ModelRef r : adoptionState.get()) {
            if (restoredAdoption == null || r.version() > restoredAdoption.version()) {
                restoredAdoption = r;
            }
        }
        List<Long> counters = new ArrayList<>();
        countersState.get().forEach(counters::add);
        long reservoirSeen = counters.size() == 4 ? counters.get(0) : 0;
        long holdoutSeen = counters.size() == 4 ? counters.get(1) : 0;
        lastVersion = counters.size() == 4 ? counters.get(2) : 0;
        rounds = counters.size() == 4 ? counters.get(3) : 0;
        reservoir = new Reservoir(settings.reservoirSize(), SEED, list(reservoirState.get()), reservoirSeen);
        holdout = new Holdout(settings.holdoutSize(), settings.holdoutMaxUses(), held, holdoutSeen);
        fresh = list(freshState.get());
        pending = list(pendingState.get());
        List<ModelRef> bases = list(baseState.get());
        baseRef = bases.isEmpty() ? null : bases.get(0);
        String dropped = null;
        if (baseRef != null && !baseRef.name().equals(settings.modelName())) {
            // state of a job that fine-tuned another model (restarted with another --model and the same group): its
            // examples carry that model's labels, its versions that model's name; none of it applies here
            dropped = baseRef.name();
            LOG.warn("the restored state fine-tuned {}; this job fine-tunes {}: dropping its {} reservoir and {} holdout"
                    + " frames, {} new frames and {} unpublished version(s)", dropped, settings.modelName(),
                    reservoir.size(), holdout.size(), fresh.size(), pending.size());
            reservoir = new Reservoir(settings.reservoirSize(), SEED);
            holdout = new Holdout(settings.holdoutSize(), settings.holdoutMaxUses());
            fresh = new ArrayList<>();
            pending = new ArrayList<>();
            lastVersion = 0;
            rounds = 0;
            baseRef = null;
            restoredAdoption = null;
        }
        if (context.isRestored()) {
            FineTuneRounds.restored(new FineTuneRounds.Restore(reservoir.size(), reservoir.seen(), holdout.size(),
                    fresh.size(), pending.size(), dropped));
            LOG.info("restored: reservoir {} ({} seen), holdout {}, {} new frames, {} version(s) to publish, base {}",
                    reservoir.size(), reservoir.seen(), holdout.size(), fresh.size(), pending.size(),
                    baseRef == null ? "-" : baseRef.displayName());
        }
    }

    private static <T> List<T> list(Iterable<T> it) {
        List<T> l = new ArrayList<>();
        it.forEach(l::add);
        return l;
    }

    @Override
    public void open() throws Exception {
        super.open();
        // ND4J loads on the task thread (its backend discovery needs the task's class loader); the trainer thread
        // then gets the OpenMP threads: the task thread itself only buffers frames
        TaskSetup.prepare(1, 1, "fine-tune task");
        cache = StoreOptions.openCache(this, settings.storeUri(), settings.signingKeyFile(), settings.keyFingerprint(),
                settings.modelCache());
        store = cache.store();
        snapshottedIn = new java.util.HashMap<>();
        stop = new AtomicBoolean();
        trainer = new TaskWorker("crmn-finetune-trainer", getUserCodeClassloader(), mailbox);
        trainer.prepare(() -> TaskSetup.prepare(settings.threads(), 1, "fine-tune trainer"));
        publisher = new TaskWorker("crmn-finetune-publisher", getUserCodeClassloader(), mailbox);
        publishing = new java.util.HashSet<>();
        if (baseRef == null) {
            baseRef = store.latest(settings.modelName()).orElseThrow(() -> new IllegalStateException("no version of "
                    + settings.modelName() + " in " + settings.storeUri() + " to start from (publish one with crmn publish)"));
        }
        base = cache.use(baseRef, dir -> Checkpoints.load(dir, true));
        anchorExamples = settings.anchor() == null ? List.of() : settings.anchor().load(base.manifest());
        if (!pending.isEmpty()) {
            // promoted before a failure: the newest is the base; publishing and announcing happen again below
            PendingVersion newest = pending.get(pending.size() - 1);
            Graphs.free(base.network());
            base = Checkpoints.load(newest.manifestJson(), newest.zip(), true);
            mailbox.execute(this::publishRestored, "publish restored versions");
        }
        lastVersion = Math.max(lastVersion, base.manifest().version());
        if (restoredAdoption != null && restoredAdoption.version() > base.manifest().version()) {
            // announced before the failure while a round ran (or loading): adopted now, as it would have been then
            ModelRef r = restoredAdoption;
            mailbox.execute(() -> {
                if (running) {
                    deferredBase = newer(deferredBase, r);
                } else if (r.version() > base.manifest().version()) {
                    adopt(r);
                }
            }, "adopt restored %s", r.displayName());
        }
        lastRoundEnd = getProcessingTimeService().getCurrentProcessingTime();
        resetPatience();
        registerMetrics();
        scheduleIntervalCheck();
        LOG.info("fine-tuning {} from {}; reservoir {}, holdout {}, {} new frames", settings.modelName(),
                base.manifest().displayName(), reservoir.size(), holdout.size(), fresh.size());
    }

    private void registerMetrics() {
        var g = getMetricGroup();
        roundsCounter = g.counter("fineTuneRounds");
        promotions = g.counter("promotions");
        refusals = g.counter("promotionsRefused");
        g.gauge("baseModelVersion", () -> base == null ? -1L : base.manifest().version());
        g.gauge("reservoirSize", () -> reservoir.size());
        g.gauge("holdoutSize", () -> holdout.size());
        g.gauge("newFrames", () -> fresh.size());
        g.gauge("quietRoundsLeft", this::quietRoundsLeft);
        g.gauge("lastBaseHoldoutAccuracy", () -> lastBaseAccuracy);
        g.gauge("lastCandidateHoldoutAccuracy", () -> lastCandidateAccuracy);
    }

    private void scheduleIntervalCheck() {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        getProcessingTimeService().registerTimer(now + Math.max(1000, settings.roundIntervalMs() / 4), t -> {
            if (!running && !fresh.isEmpty() && t - lastRoundEnd >= settings.roundIntervalMs()) {
                startRound(false);
            } else if (!running && fresh.isEmpty() && quietRoundsLeft() > 0 && reservoir.size() > 0) {
                startRound(true); // the stream is quiet: another pass over what the reservoir kept
            }
            scheduleIntervalCheck();
        });
    }

    @Override
    public void processElement1(StreamRecord<DecodedFrame> element) {
        DecodedFrame f = element.getValue();
        Example e = new Example(f.image().pixels(), f.label(), f.partition(), f.offset());
        if (inHoldout(e.pixels(), settings.holdoutPercent())) {
            Example out = holdout.offer(e);
            if (out != null) {
                reservoir.offer(out); // rotated out of a full holdout: training data from now on
            }
        } else {
            if (fresh.size() < maxNewFrames()) {
                fresh.add(e);
            } // else: catching up on a long backlog; the overflow feeds only the reservoir (state stays bounded)
            reservoir.offer(e);
        }
        if (!running && fresh.size() >= settings.roundFrames()) {
            startRound(false);
        }
    }

    /** The most new frames kept for the next round: what one round uses. */
    private int maxNewFrames() {
        return 4 * settings.roundFrames();
    }

    /**
     * Whether an image belongs to the holdout: by a hash of its decoded pixels, so the same image sent again (a
     * producer run twice, a client without frame ids) lands on the same side, never in training and holdout both.
     */
    public static boolean inHoldout(byte[] pixels, int holdoutPercent) {
        long h = 0xcbf29ce484222325L; // FNV-1a, 64 bit
        for (byte b : pixels) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        h ^= h >>> 33; // mix the high bits into the low ones before the remainder
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return Long.remainderUnsigned(h, 100) < holdoutPercent;
    }

    @Override
    public void processElement2(StreamRecord<ModelUpdate> element) {
        ModelUpdate u = element.getValue();
        ModelRef r = u.ref();
        if (u.action() == ModelUpdate.Action.ROLLBACK && r.name().equals(settings.modelName())) {
            rebase(u);
            return;
        }
        if (!r.name().equals(settings.modelName()) || r.version() <= base.manifest().version()) {
            return; // another model, or one this job already has (its own announcements come back here)
        }
        if (running) {
            ModelRef next = newer(deferredBase, r);
            deferredRollback &= next == deferredBase; // a newer serve supersedes a rollback waiting for the round's end
            deferredBase = next; // adopted when the round ends (kept in state until then)
        } else {
            adopt(r);
        }
    }

    /**
     * A rollback of the version this job's base is (or descends from: a version at or above the rolled-back one): the
     * version rolled back to becomes the base of the next rounds, though older. A rollback of a version this job
     * never built on changes nothing. During a round it is adopted when the round ends (not kept in state: after a
     * restore, the store's status record keeps the job off the rolled-back version's announcements).
     */
    private void rebase(ModelUpdate u) {
        long b = base.manifest().version();
        if (b < u.replaces() || b == u.ref().version()) {
            return;
        }
        LOG.info("v{} was rolled back to {} ({}): it becomes the base of the next rounds", u.replaces(),
                u.ref().displayName(), u.reason());
        if (running) {
            deferredBase = u.ref();
            deferredRollback = true;
        } else {
            adopt(u.ref());
        }
    }

    /** A newer version published elsewhere becomes the base, loaded on the trainer thread. */
    private void adopt(ModelRef r) {
        LOG.info("{} was announced: it becomes the base of the next rounds", r.displayName());
        running = true;
        adopting = r;
        execute("adopt " + r.displayName(), () -> {
            java.util.Optional<dev.crmn.connectors.store.ModelStatus.Change> s = store.unusable(r);
            if (s.isPresent()) {
                throw new IllegalStateException(r.displayName() + " is " + s.get().status() + " (" + s.get().reason()
                        + "): not adopted");
            }
            return cache.use(r, dir -> Checkpoints.load(dir, true));
        }, loaded -> {
            running = false;
            adopting = null;
            Graphs.free(base.network());
            base = loaded;
            adoptions++; // the next round starts a new learner from it
            baseRef = r;
            lastVersion = Math.max(lastVersion, r.version());
        }, loaded -> Graphs.free(loaded.network()));
    }

    private static ModelRef newer(ModelRef a, ModelRef b) {
        return a == null || (b != null && b.version() > a.version()) ? b : a;
    }

    /**
     * Runs {@code work} (a round, an adoption) on the trainer thread, {@code onResult} with its result on the task
     * thread; a failure is logged and the trainer is free again (a failed adoption is not retried: the next
     * announcement is). {@code discard} frees a result the task closed before taking.
     */
    private <T> void execute(String what, TaskWorker.Work<T> work, TaskWorker.OnTask<T> onResult,
                             java.util.function.Consumer<? super T> discard) {
        boolean submitted = trainer.submit(what, work, onResult, e -> {
            LOG.warn("{} failed: {}", what, e.toString());
            running = false;
            adopting = null;
        }, discard);
        if (!submitted) {
            running = false;
        }
    }

    /** What a round's work hands back to the task thread. */
    private record RoundResult(FineTuning.Candidate candidate, EvaluationReport baseEval, double seconds, double ips) {
    }

    /**
     * Rounds over the reservoir alone that a quiet stream may still run: {@code --patience} minus the candidates
     * refused without progress since the last promotion or the last round on new frames. A refused candidate that
     * is better than the serving model on the holdout, only not significantly, does not count: the learner is still
     * improving (its average climbs over several rounds before a gain is significant).
     */
    private int quietRoundsLeft() {
        return Math.max(0, settings.patience() - refusedInARow);
    }

    private void resetPatience() {
        refusedInARow = 0;
    }

    /**
     * Starts a round on the trainer thread: the learner goes on for {@code --round-steps} on the new frames, replay
     * samples and anchor images ({@link RoundMix}; {@code quiet}: no new frames), and its weight average is the
     * round's candidate.
     */
    private void startRound(boolean quiet) {
        PromotionGate.Decision tooSmall = settings.gate().tooSmall(holdout.size());
        if (tooSmall != null) {
            if (!waitingForHoldout) { // reported once per wait: the next round starts when the holdout has grown
                waitingForHoldout = true;
                long round = ++rounds;
                roundsCounter.inc();
                report(new RoundReport(round, base.manifest().version(), null, null, null, holdout.size(), 0, 0, 0,
                        tooSmall.decision(), tooSmall.reason(), tooSmall.test(), null, 0, 0));
            }
            lastRoundEnd = getProcessingTimeService().getCurrentProcessingTime();
            return;
        }
        waitingForHoldout = false;
        running = true;
        long round = ++rounds;
        if (!quiet) {
            resetPatience(); // new data: the quiet rounds after it start over
        }
        int used = quiet ? 0 : Math.min(fresh.size(), maxNewFrames());
        List<Example> newOnes = new ArrayList<>(fresh.subList(0, used));
        RoundMix mix = RoundMix.of(used, reservoir.size(), anchorExamples.size(), settings);
        SplittableRandom rng = new SplittableRandom(SEED ^ round);
        List<Example> replay = reservoir.sample(mix.replayed(), rng);
        List<Example> trainSet = new ArrayList<>(newOnes);
        trainSet.addAll(replay);
        trainSet.addAll(Reservoir.sample(anchorExamples, mix.anchored(), rng));
        Manifest bm = base.manifest();
        ImageSet train = imageSet(trainSet, bm, "round " + round + ": " + used + " new + " + replay.size() + " replayed"
                + (mix.anchored() > 0 ? " + " + mix.anchored() + " anchor" : ""));
        List<Example> judged = holdout.examples();
        ImageSet hold = imageSet(judged, bm, "holdout " + judged.size());
        int[] holdoutLabels = new int[hold.size()];
        for (int i = 0; i < holdoutLabels.length; i++) {
            holdoutLabels[i] = hold.label(i);
        }
        Map<String, Object> lineage = new LinkedHashMap<>();
        lineage.put("source_topic", settings.labelledTopic());
        lineage.put("offset_ranges", offsetRanges(newOnes));
        lineage.put("new_frames", used);
        lineage.put("replayed_frames", replay.size());
        lineage.put("anchor_images", mix.anchored());
        lineage.put("holdout", hold.size());
        lineage.put("round", round);
        Checkpoints.Loaded b = base;
        long adoptionsNow = adoptions;
        long started = System.nanoTime();
        LOG.info("round {}: fine-tuning {} for {} steps on {} new and {} replayed frames; holdout {}{}", round,
                bm.displayName(), settings.steps(), used, replay.size(), hold.size(), quiet ? "; the stream is quiet ("
                        + quietRoundsLeft() + " more refusal(s) without progress end these rounds)" : "");
        execute("round " + round, () -> {
            if (learner == null || learnerAdoptions != adoptionsNow) {
                closeLearner(); // first round, or the base was replaced by a version announced elsewhere
                FineTuneSettings s = FineTuneSettings.builder().steps(settings.steps()).batchSize(settings.batchSize())
                        .learningRate(settings.learningRate()).schedule(FineTuneSettings.Schedule.CONSTANT)
                        .averageDecay(settings.averageDecay()).seed(SEED + round).build();
                learner = FineTuning.start(b.manifest(), b.network(), train, s);
                learnerAdoptions = adoptionsNow;
            } else {
                learner.continueOn(train, settings.steps());
            }
            long t0 = learner.stepsDone();
            long n0 = System.nanoTime();
            learner.run(settings.steps(), stop::get);
            if (stop.get()) {
                return null;
            }
            double ips = (learner.stepsDone() - t0) * (double) Math.min(settings.batchSize(), train.size())
                    / Math.max(1e-9, (System.nanoTime() - n0) / 1e9);
            FineTuning.Candidate c = learner.snapshot(b.manifest(), hold, lineage);
            EvaluationReport baseEval = Evaluator.evaluate(b.network(), hold, b.manifest().normalization(),
                    CNN2DFormat.valueOf(b.manifest().input().layout()), 256);
            return new RoundResult(c, baseEval, (System.nanoTime() - started) / 1e9, ips);
        }, r -> roundDone(round, r.candidate(), r.baseEval(), judged, holdoutLabels, used, train.size(), r.seconds(),
                r.ips()), r -> r.candidate().close());
    }

    /** On the trainer thread (or once it stopped): frees the learner's network. */
    private void closeLearner() {
        if (learner != null) {
            learner.close();
            learner = null;
        }
    }

    /** Per partition of the labelled topic: the first and last offset of the frames a round trained on. */
    private static List<Map<String, Object>> offsetRanges(List<Example> frames) {
        TreeMap<Integer, long[]> r = new TreeMap<>();
        for (Example e : frames) {
            r.merge(e.partition(), new long[]{e.offset(), e.offset()},
                    (a, b) -> new long[]{Math.min(a[0], b[0]), Math.max(a[1], b[1])});
        }
        List<Map<String, Object>> out = new ArrayList<>();
        r.forEach((p, range) -> out.add(Map.of("partition", p, "from", range[0], "to", range[1])));
        return out;
    }

    private static ImageSet imageSet(List<Example> examples, Manifest m, String description) {
        int h = m.input().height(), w = m.input().width(), c = m.input().channels();
        List<LabelledImage> images = new ArrayList<>(examples.size());
        for (Example e : examples) {
            images.add(new LabelledImage(new PixelImage(h, w, c, e.pixels()), e.label()));
        }
        return ImageSet.of(images, m.labels(), h, w, c, description);
    }

    /** On the task thread: the gate, and the promotion of a candidate that passes it. */
    private void roundDone(long round, FineTuning.Candidate c, EvaluationReport baseEval, List<Example> judged,
                           int[] holdoutLabels, int used,
                           int trainImages, double seconds, double ips) throws Exception {
        running = false;
        lastRoundEnd = getProcessingTimeService().getCurrentProcessingTime();
        fresh.subList(0, Math.min(used, fresh.size())).clear();
        roundsCounter.inc();
        double cAcc = c.holdout().accuracy();
        double bAcc = baseEval.accuracy();
        lastBaseAccuracy = bAcc;
        lastCandidateAccuracy = cAcc;
        long baseVersion = base.manifest().version();
        PromotionGate.Decision d;
        if (!Double.isFinite(c.holdout().loss())) {
            d = settings.gate().refused("non-finite outputs", holdoutLabels.length);
        } else if (c.base().version() != baseVersion) {
            d = settings.gate().refused("the base changed during the round", holdoutLabels.length);
        } else {
            d = settings.gate().decide(holdoutLabels, baseEval.predictions(), c.holdout().predictions());
        }
        Long version = null;
        if (d.promoted()) {
            resetPatience();
            version = nextVersion();
            Checkpoints.Serialized s = Checkpoints.serialize(c.network(), c.manifest(version));
            pending.add(new PendingVersion(version, Checkpoints.json().writeValueAsBytes(s.manifest()), s.zip()));
            Graphs.free(base.network());
            base = new Checkpoints.Loaded(null, s.manifest(), c.network()); // the next rounds continue from it
            promotions.inc();
        } else {
            c.close();
            refusals.inc();
            if (cAcc <= bAcc) {
                refusedInARow++; // no progress; a candidate better than the serving model, only not yet
            }                    // significantly, does not count
        }
        for (Example retired : holdout.decided(judged)) {
            reservoir.offer(retired); // decided --holdout-max-uses rounds: training data from now on
        }
        report(new RoundReport(round, c.base().version(), version, bAcc, cAcc, c.holdout().images(), used, trainImages,
                c.steps(), d.decision(), d.reason(), d.test(), d.pValue(), seconds, ips));
        if (deferredBase != null) {
            ModelRef next = deferredBase;
            deferredBase = null;
            boolean rollback = deferredRollback;
            deferredRollback = false;
            if (next.version() > base.manifest().version() || (rollback && next.version() != base.manifest().version())) {
                adopt(next);
                return;
            }
        }
        if (fresh.size() >= settings.roundFrames()) {
            startRound(false); // enough new frames arrived during this round
        }
    }

    private void report(RoundReport r) {
        FineTuneRounds.record(r);
        if (r.baseAccuracy() == null) {
            LOG.info("round {}: base v{}: {}: {}", r.round(), r.baseVersion(), r.decision(), r.reason());
        } else {
            LOG.info("round {}: base v{} {} vs candidate {} on {} holdout images: {}{} ({})", r.round(), r.baseVersion(),
                    String.format("%.4f", r.baseAccuracy()), String.format("%.4f", r.candidateAccuracy()),
                    r.holdoutImages(), r.decision(), r.promoted() ? " as v" + r.candidateVersion()
                            + " (published after the next checkpoint)" : "", r.reason());
        }
    }

    /** The next version: above every version of the model in the store and every one this job allocated. */
    /**
     * The number of the next promoted version: above every version this trainer made, adopted or started from. The
     * store is not read here (the task thread does no store I/O): a number another publisher took meanwhile is
     * found when publishing, and the candidate renumbered then.
     */
    private long nextVersion() {
        lastVersion = Math.max(lastVersion, base.manifest().version()) + 1;
        return lastVersion;
    }

    @Override
    public void snapshotState(StateSnapshotContext context) throws Exception {
        super.snapshotState(context);
        reservoirState.update(reservoir.items());
        holdoutState.update(holdout.items());
        freshState.update(fresh);
        countersState.update(List.of(reservoir.seen(), holdout.seen(), lastVersion, rounds));
        baseState.update(baseRef == null ? List.of() : List.of(baseRef));
        pendingState.update(pending);
        ModelRef notAdopted = newer(adopting, deferredBase);
        adoptionState.update(notAdopted == null ? List.of() : List.of(notAdopted));
        for (PendingVersion p : pending) {
            snapshottedIn.putIfAbsent(p.version(), context.getCheckpointId());
        }
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        for (PendingVersion p : pending) {
            Long in = snapshottedIn.get(p.version());
            if (in != null && in <= checkpointId) {
                publish(p);
            }
        }
    }

    /** After a restore: versions promoted before the failure, published again (a no-op) and announced. */
    private void publishRestored() {
        pending.forEach(this::publish);
    }

    /**
     * Hands a promoted version (in a completed checkpoint) to the publisher thread; it is announced, and leaves
     * {@code pending}, on the task thread once published. A failure to publish fails the task: Flink restores it and
     * the version is published again from the checkpoint.
     */
    private void publish(PendingVersion p) {
        if (!publishing.add(p.version())) {
            return; // on its way already
        }
        publisher.submit("publish v" + p.version(), () -> publishNumbered(p), ref -> announce(p, ref), e -> {
            publishing.remove(p.version());
            throw e instanceof Exception x ? x : new IllegalStateException("publishing v" + p.version() + " failed", e);
        }, ref -> { });
    }

    /**
     * On the publisher thread: publishes a promoted version. When another publisher took its number meanwhile (a
     * {@code crmn publish} of another checkpoint, a second trainer), the candidate is renumbered above the store's
     * newest version (its manifest rewritten) and published again, instead of failing the task for ever.
     */
    private ModelRef publishNumbered(PendingVersion p) throws Exception {
        Manifest m = Checkpoints.readManifest(p.manifestJson(), "version " + p.version());
        for (int attempt = 1; ; attempt++) {
            Path tmp = Files.createDirectories(cache.dir().resolve(ModelCache.PUBLISHING + UUID.randomUUID()));
            try {
                Path dir = tmp.resolve("v" + m.version());
                Checkpoints.write(dir, new Checkpoints.Serialized(m, p.zip()));
                ModelRef ref = store.publish(dir);
                store.recordServing(ref, "promoted by the fine-tuning job (" + m.metrics().getOrDefault("holdout_accuracy",
                        Double.NaN) + " on its holdout), announced on model-updates");
                return ref;
            } catch (dev.crmn.connectors.store.VersionTakenException e) {
                if (attempt >= 10) {
                    throw e;
                }
                long next = Math.max(store.latest(settings.modelName()).map(ModelRef::version).orElse(0L), m.version()) + 1;
                LOG.warn("{} was taken by another publisher ({}); publishing this candidate as v{}", m.displayName(),
                        e.getMessage(), next);
                m = m.toBuilder().version(next).build();
            } finally {
                MoreFiles.deleteQuietly(tmp);
            }
        }
    }

    /** On the task thread: {@code p} is published as {@code ref}; announced now. */
    private void announce(PendingVersion p, ModelRef ref) {
        publishing.remove(p.version());
        pending.remove(p);
        lastVersion = Math.max(lastVersion, ref.version());
        if (base.manifest().version() == p.version() && ref.version() != p.version()) {
            base = new Checkpoints.Loaded(base.directory(), base.manifest().toBuilder().version(ref.version()).build(),
                    base.network()); // the next rounds name the renumbered version as their parent
        }
        if (base.manifest().version() == ref.version()) {
            baseRef = ref;
        }
        output.collect(new StreamRecord<>(ref));
        LOG.info("published and announced {} at {}", ref.displayName(), ref.uri());
    }

    @Override
    public void close() throws Exception {
        try {
            if (stop != null) {
                stop.set(true);
            }
            if (publisher != null && !publisher.stop(java.time.Duration.ofSeconds(60))) {
                LOG.warn("the publisher thread did not stop within 60 s");
            }
            boolean stopped = trainer == null || trainer.stop(java.time.Duration.ofSeconds(60));
            if (!stopped) {
                // freeing native memory a running round still uses would crash the TaskManager: leak it instead
                LOG.warn("the trainer thread did not stop within 60 s; its network's native memory is not freed under it");
            } else {
                closeLearner();
                if (base != null) {
                    Graphs.free(base.network());
                    base = null;
                }
            }
        } finally {
            super.close();
        }
    }
}
