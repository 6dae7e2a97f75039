package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.ModelQuality;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.ModelUpdate;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.StoreOptions;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.api.common.typeutils.base.StringSerializer;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Live accuracy per model version, and the rollback decision (keyed by model name). Input 1: scored predictions
 * ({@link LabelJoin}); input 2: the model-updates topic (rollbacks announced elsewhere, and this job's own, are
 * marked). Output: rollbacks to announce on model-updates; side output {@link #QUALITY}: each version's figures
 * for the model-quality topic, every {@code reportIntervalMs} while they change and at once on a decision.
 *
 * <p>Which version a version replaced: the one serving when its first prediction came (the newest seen, not rolled
 * back). A rollback is decided by the {@link RollbackRule}; the store records it first ({@code rolled-back}, the
 * older version {@code serving}), then it is announced, in the transaction of the checkpoint that holds the decision
 * in this state: exactly once across failures (a decision retried after a restore finds the store's record and
 * records nothing twice).
 */
public final class QualityTracker extends KeyedCoProcessFunction<String, Scored, ModelUpdate, ModelUpdate> {

    private static final Logger LOG = LoggerFactory.getLogger(QualityTracker.class);

    public static final OutputTag<ModelQuality> QUALITY = new OutputTag<>("model-quality") {
    };

    /** Settled versions whose figures are kept besides those always kept ({@link Tracked#forgetSettled}). */
    static final int SETTLED_KEPT = 4;

    /** The shadow's paired test. */
    public static final String SHADOW_TEST = "mcnemar-exact-paired";

    private final RollbackRule rule;
    /** A shadow not significantly better after this many pairs is rejected. */
    private final long shadowMaxPairs;
    private final long windowMs;
    private final long reportIntervalMs;
    private final StoreOptions.Location store;
    private transient ValueState<String> state;
    /** The state's last value and what it parses to (the same string while nothing restored another). */
    private transient Map<String, String> lastJson;
    private transient Map<String, Tracked> lastTracked;
    private transient ModelStore opened;
    /** Per model and version: the newest figures, for the metrics. */
    private transient Map<String, ModelQuality> latest;
    /**
     * The metric group of each version whose gauges are registered; a forgotten version's group is closed (its
     * gauges leave the reporters), so weeks of promotions do not leave thousands of gauges behind.
     */
    private transient Map<String, MetricGroup> registered;

    public QualityTracker(RollbackRule rule, long shadowMaxPairs, long windowMs, long reportIntervalMs,
                          StoreOptions.Location store) {
        this.rule = rule;
        this.shadowMaxPairs = shadowMaxPairs;
        this.windowMs = windowMs;
        this.reportIntervalMs = reportIntervalMs;
        this.store = store;
    }

    static ValueStateDescriptor<String> trackedState() {
        return new ValueStateDescriptor<>("tracked", StringSerializer.INSTANCE);
    }

    @Override
    public void open(OpenContext context) {
        state = getRuntimeContext().getState(trackedState());
        lastJson = new HashMap<>();
        lastTracked = new HashMap<>();
        latest = new java.util.concurrent.ConcurrentHashMap<>();
        registered = new HashMap<>();
    }

    private Tracked load(String model) throws Exception {
        String json = state.value();
        if (json == null) {
            return new Tracked();
        }
        if (json == lastJson.get(model)) { // identity: the string this function wrote last
            return lastTracked.get(model);
        }
        Tracked t = Tracked.fromJson(json);
        lastTracked.put(model, t);
        lastJson.put(model, json);
        return t;
    }

    private void save(String model, Tracked t) throws Exception {
        String json = t.toJson();
        state.update(json);
        lastJson.put(model, json);
        lastTracked.put(model, t);
    }

    @Override
    public void processElement1(Scored s, Context ctx, Collector<ModelUpdate> out) throws Exception {
        String model = ctx.getCurrentKey();
        Tracked t = load(model);
        if (t.forgotten(s.version())) {
            return; // a late prediction or label of a version settled long ago: its figures were reported and forgotten
        }
        long now = ctx.timerService().currentProcessingTime();
        if (s.kind() != Scored.Kind.SERVING) {
            shadowOutcome(model, t, s, now, ctx, out);
            save(model, t);
            ctx.timerService().registerProcessingTimeTimer(now - Math.floorMod(now, reportIntervalMs) + reportIntervalMs);
            return;
        }
        VersionFigures v = t.versions.get(s.version());
        if (v == null) {
            Long replaces = t.serving != null && t.serving < s.version() ? t.serving : null;
            v = new VersionFigures(s.version(), s.sha256(), now, replaces);
            t.versions.put(s.version(), v);
            LOG.info("{} v{}: first prediction{}", model, s.version(), replaces == null ? "" : "; it replaced v" + replaces);
        }
        if (!"rolled-back".equals(v.status) && !"rejected".equals(v.status)
                && (t.serving == null || s.version() > t.serving)) {
            if (t.serving != null) {
                VersionFigures old = t.versions.get(t.serving);
                if (old != null && "serving".equals(old.status)) {
                    old.status = "replaced";
                    old.changed = true;
                }
            }
            if (v.replaces == null && t.serving != null && t.serving < s.version()) {
                v.replaces = t.serving; // a shadow that now serves: what it replaced is its rollback baseline
            }
            t.serving = s.version();
            v.status = "serving";
        }
        v.add(s.counted(), s.correct(), now, windowMs);
        if (s.correct() != null) {
            test(model, t, v, now, ctx, out);
        }
        save(model, t);
        ctx.timerService().registerProcessingTimeTimer(now - Math.floorMod(now, reportIntervalMs) + reportIntervalMs);
    }

    /** The rollback test of {@code v} at a new look, and the rollback when it fails. */
    private void test(String model, Tracked t, VersionFigures v, long now, Context ctx, Collector<ModelUpdate> out)
            throws Exception {
        if (v.replaces == null || (v.decision != null && !"serve".equals(v.decision.action()))
                || !"serving".equals(v.status)) {
            return;
        }
        int look = rule.look(v.labelled);
        VersionFigures base = t.versions.get(v.replaces);
        if (look <= v.lastLook || base == null || base.labelled < rule.minLabelled()) {
            return; // not at a new look, or nothing to compare with yet (the look is taken when there is)
        }
        Optional<ModelRef[]> refs = refs(model, v.version, base.version);
        Optional<dev.crmn.connectors.store.ModelStatus.Change> recorded = refs.isPresent()
                ? store().status(refs.get()[0]) : Optional.empty();
        if (recorded.isPresent() && recorded.get().value() == dev.crmn.connectors.store.ModelStatus.ROLLED_BACK) {
            // the store says so already: decided before a failure (and not announced yet), or by hand
            rollBack(model, t, v, base, refs.get(), recorded.get().reason(), now, ctx, out);
            return;
        }
        double p = RollbackRule.pValue(v.correct, v.labelled, base.correct, base.labelled);
        double level = rule.alphaAt(look);
        v.lastLook = look;
        v.baseline = base.figures();
        v.lastTest = new ModelQuality.Test(RollbackRule.TEST, look, v.labelled, p, level, now);
        v.changed = true;
        if (p >= level) {
            return;
        }
        String reason = String.format(java.util.Locale.ROOT, "live accuracy %.1f %% on %d labelled predictions, below"
                        + " v%d's %.1f %% on %d (%s, p = %.2g < %.2g at look %d)", 100 * v.accuracy(), v.labelled,
                base.version, 100 * base.accuracy(), base.labelled, RollbackRule.TEST, p, level, look);
        if (refs.isEmpty()) {
            v.decision = new ModelQuality.Decision("none", base.version, reason + "; not rolled back: v" + v.version
                    + " or v" + base.version + " is not in the store " + store.uri(), now);
            LOG.warn("{} v{}: {}", model, v.version, v.decision.reason());
            emit(ctx, model, v, now);
            return;
        }
        store().recordRollback(refs.get()[0], refs.get()[1], reason);
        rollBack(model, t, v, base, refs.get(), reason, now, ctx, out);
    }

    /** {@code v} rolled back to {@code base} (recorded in the store): announced, and its figures emitted at once. */
    private void rollBack(String model, Tracked t, VersionFigures v, VersionFigures base, ModelRef[] refs, String reason,
                          long now, Context ctx, Collector<ModelUpdate> out) {
        v.decision = new ModelQuality.Decision("rollback", base.version, reason, now);
        v.status = "rolled-back";
        base.status = "serving";
        t.serving = base.version;
        LOG.warn("{} v{} rolled back to v{}: {}", model, v.version, base.version, reason);
        out.collect(ModelUpdate.rollback(refs[1], v.version, reason));
        emit(ctx, model, v, now);
        emit(ctx, model, base, now);
    }

    /**
     * A shadow version's outcome: its own figures ({@link Scored.Kind#SHADOW}), or a pair with the serving version
     * ({@link Scored.Kind#PAIR}) and, at a new look, the paired test: exact McNemar on the frames where exactly one
     * of the two was right, one-sided each way at the look's level ({@link RollbackRule}'s looks and levels, counted
     * in pairs). Significantly better: served; significantly worse, or not better after {@code shadowMaxPairs}
     * pairs: rejected.
     */
    private void shadowOutcome(String model, Tracked t, Scored s, long now, Context ctx, Collector<ModelUpdate> out)
            throws Exception {
        VersionFigures v = t.versions.get(s.version());
        if (v == null) {
            v = new VersionFigures(s.version(), s.sha256(), now, null);
            v.status = "shadow";
            t.versions.put(s.version(), v);
            LOG.info("{} v{}: first shadow prediction", model, s.version());
        }
        if (s.kind() == Scored.Kind.SHADOW) {
            v.add(s.counted(), s.correct(), now, windowMs);
            return;
        }
        v.pair(s.servingVersion(), s.correct(), s.servingCorrect());
        if (!"shadow".equals(v.status) || v.decision != null) {
            return;
        }
        int look = rule.look(v.pairs);
        boolean capped = v.pairs >= shadowMaxPairs;
        if (look <= v.lastPairLook && !capped) {
            return;
        }
        v.lastPairLook = look;
        int b = (int) v.servingOnlyCorrect;
        int c = (int) v.shadowOnlyCorrect;
        double pBetter = dev.crmn.jobs.finetune.PromotionGate.upperTail(c, b + c);
        double pWorse = dev.crmn.jobs.finetune.PromotionGate.upperTail(b, b + c);
        double level = rule.alphaAt(look);
        v.lastTest = new ModelQuality.Test(SHADOW_TEST, look, v.pairs, Math.min(pBetter, pWorse), level, now);
        v.changed = true;
        String figures = String.format(java.util.Locale.ROOT, "on %d labelled frames both classified, it was right"
                + " where v%d was wrong on %d and wrong where v%d was right on %d (%s", v.pairs, s.servingVersion(), c,
                s.servingVersion(), b, SHADOW_TEST);
        String action;
        String reason;
        if (pBetter < level && c > b) {
            action = "serve";
            reason = String.format(java.util.Locale.ROOT, "better than v%d: %s, one-sided p = %.2g < %.2g at look %d)",
                    s.servingVersion(), figures, pBetter, level, look);
        } else if (pWorse < level && b > c) {
            action = "reject";
            reason = String.format(java.util.Locale.ROOT, "worse than v%d: %s, one-sided p = %.2g < %.2g at look %d)",
                    s.servingVersion(), figures, pWorse, level, look);
        } else if (capped) {
            action = "reject";
            reason = String.format(java.util.Locale.ROOT, "not significantly better than v%d after %d pairs: %s, p = %.2g)",
                    s.servingVersion(), v.pairs, figures, pBetter);
        } else {
            return;
        }
        Optional<ModelRef> ref = store().find(model, v.version);
        if (ref.isEmpty()) {
            v.decision = new ModelQuality.Decision("none", s.servingVersion(), reason + "; not announced: v" + v.version
                    + " is not in the store " + store.uri(), now);
            LOG.warn("{} v{}: {}", model, v.version, v.decision.reason());
            emit(ctx, model, v, now);
            return;
        }
        var recorded = store().status(ref.get()).map(dev.crmn.connectors.store.ModelStatus.Change::value);
        if ("serve".equals(action)) {
            if (recorded.orElse(null) != dev.crmn.connectors.store.ModelStatus.SERVING) { // not decided before a failure
                store().recordServing(ref.get(), "served after its shadow test: " + reason);
            }
            v.decision = new ModelQuality.Decision("serve", v.version, reason, now);
            v.replaces = s.servingVersion();
            out.collect(ModelUpdate.serve(ref.get()));
        } else {
            if (recorded.orElse(null) != dev.crmn.connectors.store.ModelStatus.REJECTED) {
                store().recordStatus(ref.get(), dev.crmn.connectors.store.ModelStatus.REJECTED, reason);
            }
            v.decision = new ModelQuality.Decision("reject", s.servingVersion(), reason, now);
            v.status = "rejected";
            out.collect(ModelUpdate.reject(ref.get(), reason));
        }
        LOG.warn("{} shadow v{}: {}: {}", model, v.version, action, reason);
        emit(ctx, model, v, now);
    }

    /** The store's references of the version rolled back and the one rolled back to; empty if either is missing. */
    private Optional<ModelRef[]> refs(String model, long bad, long target) throws Exception {
        Optional<ModelRef> b = store().find(model, bad);
        Optional<ModelRef> to = store().find(model, target);
        return b.isPresent() && to.isPresent() ? Optional.of(new ModelRef[]{b.get(), to.get()}) : Optional.empty();
    }

    /** The store, opened on first use (decisions are rare; most runs of the job never touch it). */
    private ModelStore store() throws java.io.IOException {
        if (opened == null) {
            opened = store.open();
        }
        return opened;
    }

    @Override
    public void processElement2(ModelUpdate u, Context ctx, Collector<ModelUpdate> out) throws Exception {
        if (u.action() == ModelUpdate.Action.REJECT) {
            String model = ctx.getCurrentKey();
            Tracked t = load(model);
            VersionFigures v = t.versions.get(u.ref().version());
            if (v != null && !"rejected".equals(v.status)) {
                v.status = "rejected"; // by hand, or this job's own announcement read back
                if (v.decision == null) {
                    v.decision = new ModelQuality.Decision("reject", t.serving == null ? -1 : t.serving,
                            u.reason() == null ? "announced" : u.reason(), ctx.timerService().currentProcessingTime());
                }
                v.changed = true;
                save(model, t);
            }
            return;
        }
        if (u.action() != ModelUpdate.Action.ROLLBACK) {
            return; // a serve or a shadow: its predictions say when it serves or is scored
        }
        String model = ctx.getCurrentKey();
        Tracked t = load(model);
        VersionFigures bad = t.versions.get(u.replaces());
        long now = ctx.timerService().currentProcessingTime();
        if (bad != null && !"rolled-back".equals(bad.status)) {
            bad.status = "rolled-back"; // by hand (crmn rollback), or by another decider
            bad.decision = new ModelQuality.Decision("rollback", u.ref().version(), u.reason() == null ? "announced"
                    : u.reason(), now);
            bad.changed = true;
        }
        VersionFigures target = t.versions.get(u.ref().version());
        if (target != null) {
            target.status = "serving";
            target.changed = true;
        }
        t.serving = u.ref().version();
        save(model, t);
        ctx.timerService().registerProcessingTimeTimer(now - Math.floorMod(now, reportIntervalMs) + reportIntervalMs);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<ModelUpdate> out) throws Exception {
        String model = ctx.getCurrentKey();
        Tracked t = load(model);
        boolean any = false;
        long now = ctx.timerService().currentProcessingTime();
        for (VersionFigures v : t.versions.values()) {
            if (v.changed) {
                emit(ctx, model, v, now);
                any = true;
            }
        }
        List<Long> forgotten = t.forgetSettled(SETTLED_KEPT);
        for (Long v : forgotten) {
            String key = ModelQuality.key(model, v);
            latest.remove(key);
            unregisterMetrics(registered.remove(key));
        }
        if (!forgotten.isEmpty()) {
            LOG.info("{}: the figures of v{} forgotten (settled; {} version(s) kept)", model,
                    forgotten.size() == 1 ? forgotten.get(0) : forgotten.get(0) + "-v" + forgotten.get(forgotten.size() - 1),
                    t.versions.size());
        }
        if (any || !forgotten.isEmpty()) {
            save(model, t);
        }
    }

    private void emit(Context ctx, String model, VersionFigures v, long now) {
        v.changed = false;
        ModelQuality q = v.quality(model, now, windowMs);
        ctx.output(QUALITY, q);
        if (latest.put(q.key(), q) == null && !registered.containsKey(q.key())) { // again when a forgotten one serves
            registered.put(q.key(), registerMetrics(q.key(), model, v.version));
        }
        QualityReports.record(q);
    }

    private MetricGroup registerMetrics(String key, String model, long version) {
        MetricGroup g = getRuntimeContext().getMetricGroup().addGroup("model", model).addGroup("version",
                Long.toString(version));
        g.gauge("liveAccuracy", () -> figure(key, ModelQuality::accuracy, Double.NaN));
        g.gauge("windowAccuracy", () -> figure(key, q -> q.window().accuracy(), Double.NaN));
        g.gauge("labelledPredictions", () -> figure(key, ModelQuality::labelled, 0L));
        g.gauge("predictions", () -> figure(key, ModelQuality::predictions, 0L));
        g.gauge("rolledBack", () -> figure(key, q -> "rolled-back".equals(q.status()) ? 1 : 0, 0));
        return g;
    }

    /**
     * Drops a forgotten version's gauges from the reporters. The public {@link MetricGroup} has no way to remove a
     * metric; Flink's own groups ({@code AbstractMetricGroup}, what a task gets) unregister theirs when closed, and a
     * later {@code addGroup} of the same name (the version serving again) makes a new group in its place. Another
     * implementation keeps its gauges, which then read NaN and 0.
     */
    private static void unregisterMetrics(MetricGroup g) {
        if (g instanceof org.apache.flink.runtime.metrics.groups.AbstractMetricGroup<?> a) {
            a.close();
        }
    }

    /** The versions whose gauges are registered now (for tests). */
    java.util.Set<String> versionsWithMetrics() {
        return java.util.Set.copyOf(registered.keySet());
    }

    /** A figure of the version's newest report; {@code absent} when there is none (forgotten) or it has none yet. */
    private <T> T figure(String key, java.util.function.Function<ModelQuality, T> f, T absent) {
        ModelQuality q = latest.get(key);
        T v = q == null ? null : f.apply(q);
        return v == null ? absent : v;
    }
}
