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
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.train.FineTuning;
import java.util.ArrayList;
import java.util.List;
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
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Turns a labelled stream into better model versions, safely (parallelism 1). Input 1: decoded labelled frames;
 * input 2: the model-updates topic. Output: the {@link ModelRef} of every promoted version, once. The operator
 * orchestrates; each part has one job:
 *
 * <ul>
 *   <li><b>Data</b> ({@link TrainingFrames}): each frame goes, by a hash of its pixels, to the rotating holdout or to
 *       training (the new frames since the last round, capped, and a replay reservoir). All of it is operator state.</li>
 *   <li><b>Rounds</b> ({@link Learner}, on a trainer thread: the task thread keeps taking frames and checkpoints):
 *       when {@code round-frames} new frames have arrived, or {@code round-interval} has passed with some, the
 *       learner goes on for {@code round-steps} on them, replay and anchor images ({@link RoundMix}); its weight
 *       average is the round's candidate. With no new frames, rounds go on over the reservoir until {@code patience}
 *       candidates were refused without progress.</li>
 *   <li><b>Gate</b> ({@link PromotionGate}, on the task thread): the candidate and the serving model on the same
 *       holdout, a paired test; promoted only if it is significantly better (and its outputs are finite).</li>
 *   <li><b>Promotion</b> ({@link PromotedVersions}): the version number is the next above every version this job
 *       made, adopted or started from; the checkpoint (lineage: parent, offsets trained on, steps, settings, holdout
 *       metrics) is kept in state, published when the checkpoint holding it completes and then announced: exactly
 *       once across failures.</li>
 *   <li><b>Following</b> (here): a newer version announced by someone else becomes the base between rounds; a
 *       rollback of the base makes the version rolled back to the base.</li>
 * </ul>
 */
public final class TrainerOperator extends AbstractStreamOperator<ModelRef>
        implements TwoInputStreamOperator<DecodedFrame, ModelUpdate, ModelRef> {

    private static final Logger LOG = LoggerFactory.getLogger(TrainerOperator.class);

    private final RoundSettings settings;
    private final MailboxExecutor mailbox;

    private transient ListState<Example> reservoirState;
    private transient ListState<Holdout.Held> holdoutState;
    private transient ListState<Example> freshState;
    private transient ListState<Long> countersState;
    private transient ListState<ModelRef> baseState;
    private transient ListState<PendingVersion> pendingState;

    private transient TrainingFrames frames;
    private transient long lastVersion;
    private transient long rounds;
    private transient ModelRef baseRef;
    private transient Checkpoints.Loaded base;
    private transient PromotedVersions promoted;
    private transient ModelRef deferredBase;
    /** Whether {@code deferredBase} is a rollback's target (adopted though older than the base). */
    private transient boolean deferredRollback;
    /**
     * Candidates refused without progress (not ahead of the serving model on the holdout in accuracy or loss) since the
     * last promotion or round on new frames: quiet rounds stop at the patience.
     */
    private transient int refusedInARow;
    /** A round found the holdout too small (and said so); rounds wait for it to grow. */
    private transient boolean waitingForHoldout;
    /** This job's base, rejected as a shadow while a round ran: rebased on the serving version when it ends. */
    private transient Long rejectedBase;
    /** The network of the base the running round started from (a base renumbered at publish is the same). */
    private transient Object roundBase;
    /** The announced version being loaded as the base, until it is. */
    private transient ModelRef adopting;
    private transient ListState<ModelRef> adoptionState;
    /** The newest announced version a restored state had not adopted yet, or null. */
    private transient ModelRef restoredAdoption;
    private transient boolean running;
    /** The learner (the trainer thread's). */
    private transient Learner learner;
    /** Counts the bases adopted from elsewhere (task thread); a round under a newer one starts a new learner. */
    private transient long adoptions;
    /**
     * Candidates refused for forgetting (task thread; not in state): the next round starts a new learner from the
     * serving version that leans on it more ({@link Learner#distillation}).
     */
    private transient int forgettings;
    private transient long lastRoundEnd;
    /** The {@link Anchor}'s images (configuration: read from its files when the task opens), or none. */
    private transient List<Example> anchorExamples;
    private transient ModelStore store;
    private transient ModelCache cache;
    private transient TaskWorker trainer;
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
        return new Restored(frames.reservoir().items(), frames.reservoir().seen(), frames.holdout().examples(),
                frames.holdout().seen(), frames.newFrameList(), lastVersion, rounds, baseRef, promoted.pending(),
                restoredAdoption, frames.holdout().items().stream().map(Holdout.Held::uses).toList());
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
        frames = new TrainingFrames(settings, list(reservoirState.get()), reservoirSeen, held, holdoutSeen,
                list(freshState.get()));
        promoted = new PromotedVersions(list(pendingState.get()));
        List<ModelRef> bases = list(baseState.get());
        baseRef = bases.isEmpty() ? null : bases.get(0);
        String dropped = null;
        if (baseRef != null && !baseRef.name().equals(settings.modelName())) {
            // state of a job that fine-tuned another model (restarted with another --model and the same group): its
            // examples carry that model's labels, its versions that model's name; none of it applies here
            dropped = baseRef.name();
            LOG.warn("the restored state fine-tuned {}; this job fine-tunes {}: dropping its {} reservoir and {} holdout"
                    + " frames, {} new frames and {} unpublished version(s)", dropped, settings.modelName(),
                    frames.reservoir().size(), frames.holdout().size(), frames.newFrames(), promoted.pending().size());
            frames = new TrainingFrames(settings);
            promoted = new PromotedVersions(List.of());
            lastVersion = 0;
            rounds = 0;
            baseRef = null;
            restoredAdoption = null;
        }
        if (context.isRestored()) {
            FineTuneRounds.restored(new FineTuneRounds.Restore(frames.reservoir().size(), frames.reservoir().seen(),
                    frames.holdout().size(), frames.newFrames(), promoted.pending().size(), dropped));
            LOG.info("restored: reservoir {} ({} seen), holdout {}, {} new frames, {} version(s) to publish, base {}",
                    frames.reservoir().size(), frames.reservoir().seen(), frames.holdout().size(), frames.newFrames(),
                    promoted.pending().size(),
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
        stop = new AtomicBoolean();
        trainer = new TaskWorker("crmn-finetune-trainer", getUserCodeClassloader(), mailbox);
        RoundSettings.LearnerThreads threads = settings.learnerThreads(Runtime.getRuntime().availableProcessors());
        trainer.prepare(() -> TaskSetup.prepare(threads.threadsEach(), 1, "fine-tune trainer"));
        LOG.info("the learner: {} replica(s) sharing each step's batch, {} OpenMP thread(s) each (--replicas, --threads)",
                threads.replicas(), threads.threadsEach());
        promoted.open(store, cache, new TaskWorker("crmn-finetune-publisher", getUserCodeClassloader(), mailbox),
                settings.shadow(), settings.pruneKeep(), this::announce);
        if (baseRef == null) {
            baseRef = store.latest(settings.modelName()).orElseThrow(() -> new IllegalStateException("no version of "
                    + settings.modelName() + " in " + settings.storeUri() + " to start from (publish one with crmn publish)"));
        }
        base = cache.use(baseRef, dir -> Checkpoints.load(dir, true));
        Anchor.Images anchor = settings.anchor() == null ? null : settings.anchor().load(base.manifest());
        anchorExamples = anchor == null ? List.of() : anchor.train();
        learner = new Learner(settings, anchor, threads.replicas());
        PendingVersion newest = promoted.newest();
        if (newest != null) {
            // promoted before a failure: the newest is the base; publishing and announcing happen again below
            Graphs.free(base.network());
            base = Checkpoints.load(newest.manifestJson(), newest.zip(), true);
            mailbox.execute(promoted::publishAll, "publish restored versions");
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
        LOG.info("fine-tuning {} from {}; reservoir {}, holdout {}, {} new frames; {}", settings.modelName(),
                base.manifest().displayName(), frames.reservoir().size(), frames.holdout().size(), frames.newFrames(),
                settings.anchor() == null ? "no anchor" : String.format(java.util.Locale.ROOT,
                        "anchor: %d images from %s, %.0f %% of each round, distillation %s", anchorExamples.size(),
                        String.join(",", settings.anchor().paths()), settings.anchor().share() * 100,
                        settings.distillation()));
    }

    private void registerMetrics() {
        var g = getMetricGroup();
        roundsCounter = g.counter("fineTuneRounds");
        promotions = g.counter("promotions");
        refusals = g.counter("promotionsRefused");
        g.gauge("baseModelVersion", () -> base == null ? -1L : base.manifest().version());
        g.gauge("reservoirSize", () -> frames.reservoir().size());
        g.gauge("holdoutSize", () -> frames.holdout().size());
        g.gauge("newFrames", () -> frames.newFrames());
        g.gauge("quietRoundsLeft", this::quietRoundsLeft);
        g.gauge("lastBaseHoldoutAccuracy", () -> lastBaseAccuracy);
        g.gauge("lastCandidateHoldoutAccuracy", () -> lastCandidateAccuracy);
    }

    private void scheduleIntervalCheck() {
        long now = getProcessingTimeService().getCurrentProcessingTime();
        getProcessingTimeService().registerTimer(now + Math.max(1000, settings.roundIntervalMs() / 4), t -> {
            if (!running && frames.newFrames() > 0 && t - lastRoundEnd >= settings.roundIntervalMs()) {
                startRound(false);
            } else if (quietRoundGoesOn()) {
                startRound(true); // the stream is quiet: another pass over what the reservoir kept
            }
            scheduleIntervalCheck();
        });
    }

    @Override
    public void processElement1(StreamRecord<DecodedFrame> element) {
        DecodedFrame f = element.getValue();
        frames.offer(new Example(f.image().pixels(), f.label(), f.partition(), f.offset()));
        if (!running && frames.roundReady()) {
            startRound(false);
        }
    }

    @Override
    public void processElement2(StreamRecord<ModelUpdate> element) {
        ModelUpdate u = element.getValue();
        ModelRef r = u.ref();
        if (r.name().equals(settings.modelName())) {
            // numbers announced elsewhere are taken, adopted or not (a version refused, rolled back, or older): the
            // next promotion is numbered above them instead of being renumbered when it is published
            lastVersion = Math.max(lastVersion, u.replaces() == null ? r.version() : Math.max(r.version(), u.replaces()));
        }
        if (u.action() == ModelUpdate.Action.ROLLBACK && r.name().equals(settings.modelName())) {
            rebase(u);
            return;
        }
        if (u.action() == ModelUpdate.Action.REJECT && r.name().equals(settings.modelName())
                && r.version() == base.manifest().version()) {
            // this job's own shadow promotion (--shadow), rejected on live traffic: not a base to build on
            LOG.info("{} (this job's base) was rejected ({}): the serving version becomes the base of the next rounds",
                    r.displayName(), u.reason());
            if (running) {
                rejectedBase = r.version();
            } else {
                rebaseOnServing();
            }
            return;
        }
        if (u.action() == ModelUpdate.Action.SHADOW || u.action() == ModelUpdate.Action.REJECT) {
            return; // a shadow is not served: nothing to build on (a served shadow comes as a serve announcement)
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
        if (deferredBase != null && deferredBase.version() == u.replaces()) {
            deferredBase = null; // announced during the round, rolled back before it ended: never adopted
            deferredRollback = false;
        }
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

    /** The serving version (the store's status records say which) becomes the base, loaded on the trainer thread. */
    private void rebaseOnServing() {
        running = true;
        String name = settings.modelName();
        execute("rebase on the serving version", () -> {
            java.util.List<Long> serving = store.versionsServing(name);
            ModelRef r = (serving.isEmpty() ? store.latest(name) : store.find(name, serving.get(0))).orElseThrow(
                    () -> new IllegalStateException("no serving version of " + name + " to rebase on"));
            return java.util.Map.entry(r, cache.use(r, dir -> Checkpoints.load(dir, true)));
        }, e -> adopted(e.getKey(), e.getValue()), e -> Graphs.free(e.getValue().network()));
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
        }, loaded -> adopted(r, loaded), loaded -> Graphs.free(loaded.network()));
    }

    /** On the task thread: {@code loaded} ({@code r}) is the base of the next rounds, with a new learner. */
    private void adopted(ModelRef r, Checkpoints.Loaded loaded) {
        running = false;
        adopting = null;
        Graphs.free(base.network());
        base = loaded;
        adoptions++; // the next round starts a new learner from it
        baseRef = r;
        lastVersion = Math.max(lastVersion, r.version());
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

    /**
     * Rounds over the reservoir alone that a quiet stream may still run: {@code --patience} minus the candidates
     * refused without progress since the last promotion or the last round on new frames. A refused candidate that
     * is ahead of the serving model on the holdout in accuracy or loss ({@link Learner#progressed}), only not
     * significantly, does not count: the learner is still improving (its average climbs over several rounds before a
     * gain is significant).
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
        PromotionGate.Decision tooSmall = settings.gate().tooSmall(frames.holdout().size());
        if (tooSmall != null) {
            if (!waitingForHoldout) { // reported once per wait: the next round starts when the holdout has grown
                waitingForHoldout = true;
                long round = ++rounds;
                roundsCounter.inc();
                report(new RoundReport(round, base.manifest().version(), null, null, null, null, null,
                        frames.holdout().size(), 0, 0, 0, tooSmall.decision(), tooSmall.reason(), tooSmall.test(), null,
                        null, null, 0, 0, System.currentTimeMillis(), null));
            }
            lastRoundEnd = getProcessingTimeService().getCurrentProcessingTime();
            return;
        }
        waitingForHoldout = false;
        running = true;
        if (!quiet) {
            resetPatience(); // new data: the quiet rounds after it start over
        }
        TrainingFrames.Round r = frames.plan(++rounds, quiet, anchorExamples);
        Checkpoints.Loaded b = base;
        roundBase = b.network();
        long generation = adoptions;
        int forgot = forgettings;
        LOG.info("round {}: fine-tuning {} for {} steps on {} new and {} replayed frames; holdout {}{}", r.number(),
                b.manifest().displayName(), settings.steps(), r.newFrames().size(), r.replayed(), r.judged().size(),
                quiet ? "; the stream is quiet (" + quietRoundsLeft()
                        + " more refusal(s) without progress end these rounds)" : "");
        execute("round " + r.number(), () -> learner.round(r, b, generation, forgot, stop::get),
                result -> roundDone(r, result), result -> result.candidate().close());
    }

    /** On the task thread: the gate, and the promotion of a candidate that passes it. */
    private void roundDone(TrainingFrames.Round r, Learner.Result result) throws Exception {
        running = false;
        lastRoundEnd = getProcessingTimeService().getCurrentProcessingTime();
        roundsCounter.inc();
        FineTuning.Candidate c = result.candidate();
        double cAcc = c.holdout().accuracy();
        double bAcc = result.baseEval().accuracy();
        lastBaseAccuracy = bAcc;
        lastCandidateAccuracy = cAcc;
        int[] holdoutLabels = r.judged().stream().mapToInt(Example::label).toArray();
        PromotionGate.Decision d;
        if (!Double.isFinite(c.holdout().loss())) {
            d = settings.gate().refused("non-finite outputs", holdoutLabels.length);
        } else if (roundBase != base.network()) {
            d = settings.gate().refused("the base changed during the round", holdoutLabels.length);
        } else {
            d = settings.gate().decide(holdoutLabels, result.baseEval().predictions(), c.holdout().predictions(),
                    result.baseEval().losses(), c.holdout().losses());
        }
        Learner.Forgetting f = result.forgetting();
        boolean forgot = f != null && f.forgot();
        if (f != null) {
            d = f.judge(d);
        }
        if (forgot) {
            double was = Learner.distillation(settings.distillation(), forgettings++);
            double next = Learner.distillation(settings.distillation(), forgettings);
            LOG.info("round {}: the candidate forgets ({} points on the anchor's held-out images): {}", r.number(),
                    String.format("%.2f", -f.pointsLost()), next > was ? "the next round starts a new learner from "
                            + base.manifest().displayName() + " with distillation " + next
                            : "the learner goes on at distillation " + next);
        }
        Long version = null;
        Boolean counts = null;
        if (d.promoted()) {
            resetPatience();
            version = nextVersion();
            Checkpoints.Serialized s = Checkpoints.serialize(c.network(), c.manifest(version));
            promoted.add(new PendingVersion(version, Checkpoints.json().writeValueAsBytes(s.manifest()), s.zip()));
            Graphs.free(base.network());
            base = new Checkpoints.Loaded(null, s.manifest(), c.network()); // the next rounds continue from it
            promotions.inc();
        } else {
            c.close();
            refusals.inc();
            counts = !result.progressed();
            if (counts) {
                refusedInARow++; // no progress; a candidate ahead of the serving model in holdout accuracy or loss
            }                    // does not count, whether the gate or the forgetting check refused it
        }
        frames.judged(r);
        report(new RoundReport(r.number(), c.base().version(), version, bAcc, cAcc, result.baseEval().loss(),
                c.holdout().loss(), c.holdout().images(), r.newFrames().size(), r.train().size(), c.steps(),
                d.decision(), d.reason(), d.test(), d.pValue(), f == null ? null : f.accuracy(),
                f == null ? null : f.reference(), result.seconds(), result.imagesPerSecond(),
                System.currentTimeMillis(), counts));
        if (rejectedBase != null) {
            boolean stillBase = rejectedBase == base.manifest().version(); // not if this round promoted a newer one
            rejectedBase = null;
            if (stillBase) {
                rebaseOnServing();
                return;
            }
        }
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
        if (frames.roundReady()) {
            startRound(false); // enough new frames arrived during this round
        } else if (quietRoundGoesOn()) {
            startRound(true); // at once: waiting for the interval check left the trainer idle 15-30 s a round
        }
    }

    /** Whether the stream is quiet and another round over the reservoir may run ({@code --patience}). */
    private boolean quietRoundGoesOn() {
        return !running && frames.newFrames() == 0 && quietRoundsLeft() > 0 && frames.reservoir().size() > 0;
    }

    private void report(RoundReport r) {
        FineTuneRounds.record(r);
        LOG.info("{}{}", r.line(), r.promoted() ? "; published after the next checkpoint" : "");
    }

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
        reservoirState.update(frames.reservoir().items());
        holdoutState.update(frames.holdout().items());
        freshState.update(frames.newFrameList());
        countersState.update(List.of(frames.reservoir().seen(), frames.holdout().seen(), lastVersion, rounds));
        baseState.update(baseRef == null ? List.of() : List.of(baseRef));
        pendingState.update(promoted.pending());
        ModelRef notAdopted = newer(adopting, deferredBase);
        adoptionState.update(notAdopted == null ? List.of() : List.of(notAdopted));
        promoted.snapshotted(context.getCheckpointId());
    }

    @Override
    public void notifyCheckpointComplete(long checkpointId) throws Exception {
        super.notifyCheckpointComplete(checkpointId);
        promoted.checkpointComplete(checkpointId);
    }

    /** On the task thread: {@code p} is published as {@code ref}; announced now. */
    private void announce(PendingVersion p, ModelRef ref) {
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
            if (promoted != null && !promoted.stop(java.time.Duration.ofSeconds(60))) {
                LOG.warn("the publisher thread did not stop within 60 s");
            }
            boolean stopped = trainer == null || trainer.stop(java.time.Duration.ofSeconds(60));
            if (!stopped) {
                // freeing native memory a running round still uses would crash the TaskManager: leak it instead
                LOG.warn("the trainer thread did not stop within 60 s; its network's native memory is not freed under it");
            } else {
                if (learner != null) {
                    learner.close();
                }
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
