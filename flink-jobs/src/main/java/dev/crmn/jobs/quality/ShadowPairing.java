package dev.crmn.jobs.quality;

import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.state.ValueState;
import org.apache.flink.api.common.state.ValueStateDescriptor;
import org.apache.flink.streaming.api.functions.KeyedProcessFunction;
import org.apache.flink.util.Collector;

/**
 * Pairs, by frame id, a shadow version's labelled outcome with the serving version's outcome of the same frame, for
 * the shadow's paired test ({@link Scored.Kind#PAIR}); every outcome also passes through unchanged. A labelled
 * outcome waits at most {@code windowMs} for the other (the two are made in the same batch, so they come within a
 * checkpoint or two of each other): the state holds one outcome per frame scored in the last {@code windowMs}.
 */
public final class ShadowPairing extends KeyedProcessFunction<String, Scored, Scored> {

    private final long windowMs;
    private transient ValueState<Scored> waiting;

    public ShadowPairing(long windowMs) {
        this.windowMs = windowMs;
    }

    static ValueStateDescriptor<Scored> waitingState() {
        return new ValueStateDescriptor<>("unpaired", ScoredSerializer.INSTANCE);
    }

    @Override
    public void open(OpenContext context) {
        waiting = getRuntimeContext().getState(waitingState());
    }

    @Override
    public void processElement(Scored s, Context ctx, Collector<Scored> out) throws Exception {
        out.collect(s);
        if (s.correct() == null || s.kind() == Scored.Kind.PAIR) {
            return;
        }
        Scored other = waiting.value();
        if (other != null && other.kind() != s.kind()) {
            waiting.clear();
            out.collect(s.kind() == Scored.Kind.SHADOW ? Scored.pair(s, other) : Scored.pair(other, s));
            return;
        }
        waiting.update(s);
        ctx.timerService().registerProcessingTimeTimer(ctx.timerService().currentProcessingTime() + windowMs);
    }

    @Override
    public void onTimer(long timestamp, OnTimerContext ctx, Collector<Scored> out) throws Exception {
        Scored s = waiting.value();
        if (s != null && s.at() + windowMs <= timestamp) {
            waiting.clear();
        }
    }
}
