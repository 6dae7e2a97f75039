package dev.crmn.jobs.common;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.FrameRejectedException;
import java.util.Map;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.metrics.Counter;
import org.apache.flink.metrics.MetricGroup;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Decodes and validates frames for a model's input ({@link FrameDecoder}): good ones go on, every rejected one
 * to the {@link #DEAD_LETTERS} side output with its reason and the original record, so nothing a producer
 * sent is lost and no input can fail the job. Metrics: {@value Metrics#FRAMES_DECODED} and, per reason,
 * {@code deadLetters.<reason>}.
 */
public final class DecodeFunction extends ProcessFunction<Frame, DecodedFrame> {

    /** Frames that cannot be used, with the reason. */
    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("dead-letters",
            TypeInformation.of(DeadLetter.class));

    private final FrameDecoder decoder;
    private transient Counter decoded;
    private transient Map<DeadLetterReason, Counter> rejected;

    public DecodeFunction(FrameDecoder decoder) {
        this.decoder = decoder;
    }

    @Override
    public void open(OpenContext openContext) {
        MetricGroup group = getRuntimeContext().getMetricGroup();
        decoded = group.counter(Metrics.FRAMES_DECODED);
        rejected = Metrics.deadLetterCounters(group);
    }

    @Override
    public void processElement(Frame frame, Context ctx, Collector<DecodedFrame> out) {
        DecodedFrame d;
        try {
            d = decoder.decode(frame);
        } catch (FrameRejectedException e) {
            rejected.get(e.reason()).inc();
            ctx.output(DEAD_LETTERS, DeadLetter.of(frame, e));
            return;
        }
        decoded.inc();
        out.collect(d);
    }
}
