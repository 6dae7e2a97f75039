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
 * Joins predictions with their labels by frame id (keyed by it). A prediction whose frame carried a label (the
 * {@code label} field) is scored at once. One without waits up to {@code maxDelayMs} for a late label on the labels
 * topic; a late label that arrives first waits as long for its prediction. What waits longer is dropped (the
 * prediction still counts as a prediction): the state is bounded by {@code --max-label-delay} × the prediction rate.
 * A late label that names no class of the prediction's model goes to the dead letters ({@code bad-label}).
 */
public final class LabelJoin extends KeyedCoProcessFunction<String, Prediction, LabelRecord, Scored> {

    private static final Logger LOG = LoggerFactory.getLogger(LabelJoin.class);

    private final long maxDelayMs;
    private final StoreOptions.Location store;
    private transient ValueState<Waiting> waiting;
    private transient ModelStore opened;
    /** The classes of each model, by name (read from its latest manifest once). */
    private transient Map<String, List<String>> classes;

    public LabelJoin(long maxDelayMs, StoreOptions.Location store) {
        this.maxDelayMs = maxDelayMs;
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
    public void processElement1(Prediction p, Context ctx, Collector<Scored> out) throws Exception {
        long now = ctx.timerService().currentProcessingTime();
        int predicted = p.top().index();
        if (p.label() != null) {
            out.collect(new Scored(p.model().name(), p.model().version(), p.model().sha256(), true,
                    p.label() == predicted, now));
            return;
        }
        out.collect(new Scored(p.model().name(), p.model().version(), p.model().sha256(), true, null, now));
        Waiting w = waiting.value();
        if (w != null && !w.isPrediction()) {
            waiting.clear(); // its label came first
            score(p.model().name(), p.model().version(), p.model().sha256(), predicted, w, now, ctx, out);
            return;
        }
        waiting.update(Waiting.prediction(p.model().name(), p.model().version(), p.model().sha256(), predicted, now));
        ctx.timerService().registerProcessingTimeTimer(now + maxDelayMs);
    }

    @Override
    public void processElement2(LabelRecord l, Context ctx, Collector<Scored> out) throws Exception {
        long now = ctx.timerService().currentProcessingTime();
        Waiting label = Waiting.label(l.label(), l.topic(), l.partition(), l.offset(), now);
        Waiting w = waiting.value();
        if (w != null && w.isPrediction()) {
            waiting.clear();
            score(w.model(), w.version(), w.sha256(), w.predicted(), label, now, ctx, out);
            return;
        }
        waiting.update(label); // before its prediction (or a second label: the newest counts)
        ctx.timerService().registerProcessingTimeTimer(now + maxDelayMs);
    }

    private void score(String model, long version, String sha256, int predicted, Waiting label, long now, Context ctx,
                       Collector<Scored> out) {
        int index;
        try {
            index = new LateLabel(ctx.getCurrentKey(), label.label()).classIndex(classes(model));
        } catch (IOException e) {
            Frame original = new Frame(label.labelTopic(), label.labelPartition(), label.labelOffset(), label.since(),
                    ctx.getCurrentKey().getBytes(StandardCharsets.UTF_8),
                    new LateLabel(ctx.getCurrentKey(), label.label()).toBytes(), null, null);
            ctx.output(RecordParser.DEAD_LETTERS, new DeadLetter(original, DeadLetterReason.BAD_LABEL,
                    e.getMessage() + " (model " + model + ")"));
            return;
        }
        out.collect(new Scored(model, version, sha256, false, index == predicted, now));
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
        if (w != null && w.since() + maxDelayMs <= timestamp) {
            waiting.clear(); // waited --max-label-delay for the other side
        }
    }
}
