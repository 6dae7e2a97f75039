package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.LateLabel;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.jobs.common.StoreOptions;
import dev.crmn.model.checkpoint.Manifest;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.functions.co.KeyedCoProcessFunction;
import org.apache.flink.util.Collector;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Joins predictions (the serving version's, and a shadow version's of the same frames) with their labels by frame
 * id (keyed by it). A prediction whose frame carried a label (the {@code label} field) is scored at once. One without
 * waits up to {@code maxDelayMs} for a late label on the labels topic; a late label that arrives first waits as long
 * for its predictions, and once it has scored one it waits {@code pairWindowMs} more for the other kind (a shadow's
 * prediction of the same frame comes in the same batch, so within seconds). What waits longer is dropped (a
 * prediction still counts as a prediction): the state is bounded by {@code --max-label-delay} × the prediction rate.
 * A late label that names no class of the prediction's model goes to the dead letters ({@code bad-label}).
 */
public final class LabelJoin extends KeyedCoProcessFunction<String, PredictionRead, LabelRecord, Scored> {

    private static final Logger LOG = LoggerFactory.getLogger(LabelJoin.class);

    private final long maxDelayMs;
    private final long pairWindowMs;
    private final StoreOptions.Location store;
    private transient ValueState<Waiting> waiting;
    private transient ModelStore opened;
    /** The classes of each model, by name (read from its latest manifest once). */
    private transient Map<String, List<String>> classes;

    public LabelJoin(long maxDelayMs, long pairWindowMs, StoreOptions.Location store) {
        this.maxDelayMs = maxDelayMs;
        this.pairWindowMs = pairWindowMs;
        this.store = store;
    }

    static ValueStateDescriptor<Waiting> waitingState() {
        return new ValueStateDescriptor<>("waiting", WaitingSerializer.INSTANCE);
    }

    @Override
    public void open(OpenContext context) throws Exception {
        waiting = getRuntimeContext().getState(waitingState());
        classes = new HashMap<>();
    }

    @Override
    public void processElement1(PredictionRead read, Context ctx, Collector<Scored> out) throws Exception {
        long now = ctx.timerService().currentProcessingTime();
        Prediction p = read.prediction();
        Waiting.Part part = new Waiting.Part(p.model().name(), p.model().version(), p.model().sha256(), p.top().index());
        if (p.label() != null) {
            out.collect(scored(part, read.shadow(), true, p.label() == part.predicted(), now, ctx));
            return;
        }
        Waiting w = waiting.value();
        if (w != null && w.label() != null) { // its label came first
            Integer index = resolve(part.model(), w, ctx);
            out.collect(scored(part, read.shadow(), true, index == null ? null : index == part.predicted(), now, ctx));
            long expires = Math.min(w.expires(), now + pairWindowMs); // it stays for the other kind of prediction only
            waiting.update(w.withLabel(w.label(), w.labelTopic(), w.labelPartition(), w.labelOffset(), expires));
            ctx.timerService().registerProcessingTimeTimer(expires);
            return;
        }
        out.collect(scored(part, read.shadow(), true, null, now, ctx));
        long expires = now + maxDelayMs;
        waiting.update((w == null ? Waiting.NONE : w).with(part, read.shadow(), expires));
        ctx.timerService().registerProcessingTimeTimer(expires);
    }

    @Override
    public void processElement2(LabelRecord l, Context ctx, Collector<Scored> out) throws Exception {
        long now = ctx.timerService().currentProcessingTime();
        Waiting w = waiting.value();
        Waiting label = Waiting.NONE.withLabel(l.label(), l.topic(), l.partition(), l.offset(), 0);
        boolean both = w != null && w.serving() != null && w.shadow() != null;
        if (w != null) {
            for (Waiting.Part part : new Waiting.Part[]{w.serving(), w.shadow()}) {
                if (part != null) {
                    Integer index = resolve(part.model(), label, ctx);
                    if (index != null) {
                        out.collect(scored(part, part == w.shadow(), false, index == part.predicted(), now, ctx));
                    }
                }
            }
        }
        // the label waits for predictions not seen yet: all of them (maxDelay), or the other kind (the pair window)
        long expires = now + (w == null || (w.serving() == null && w.shadow() == null) ? maxDelayMs : pairWindowMs);
        if (both) {
            waiting.clear();
        } else {
            waiting.update(label.withLabel(l.label(), l.topic(), l.partition(), l.offset(), expires));
            ctx.timerService().registerProcessingTimeTimer(expires);
        }
    }

    private Scored scored(Waiting.Part p, boolean shadow, boolean counted, Boolean correct, long now, Context ctx) {
        return shadow ? Scored.shadow(p.model(), p.version(), p.sha256(), counted, correct, now, ctx.getCurrentKey())
                : Scored.serving(p.model(), p.version(), p.sha256(), counted, correct, now, ctx.getCurrentKey());
    }

    /** The class index {@code w}'s label names among {@code model}'s classes; null (and a dead letter) if none. */
    private Integer resolve(String model, Waiting w, Context ctx) {
        try {
            return new LateLabel(ctx.getCurrentKey(), w.label()).classIndex(classes(model));
        } catch (IOException e) {
            Frame original = new Frame(w.labelTopic(), w.labelPartition(), w.labelOffset(), 0,
                    ctx.getCurrentKey().getBytes(StandardCharsets.UTF_8),
                    new LateLabel(ctx.getCurrentKey(), w.label()).toBytes(), null, null);
            ctx.output(RecordParser.DEAD_LETTERS, new DeadLetter(original, DeadLetterReason.BAD_LABEL,
                    e.getMessage() + " (model " + model + ")"));
            return null;
        }
    }

    /** The classes of {@code model}: from its latest version's manifest in the store, read once. */
    private List<String> classes(String model) throws IOException {
        List<String> c = classes.get(model);
        if (c == null) {
            if (opened == null) {
                opened = store.open();
            }
            var ref = opened.latest(model).orElseThrow(() -> new IOException("no model " + model + " in the store "
                    + store.uri() + " to resolve class names against"));
            Manifest m = opened.verify(ref);
            c = m.labels();
            classes.put(model, c);
            LOG.info("late labels of {} resolved against its {} classes ({})", model, c.size(), ref.displayName());
        }
        return c;
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Scored> out) throws Exception {
        Waiting w = waiting.value();
        if (w != null && w.expires() <= timestamp) {
            waiting.clear(); // waited long enough for the other side
        }
    }
}
