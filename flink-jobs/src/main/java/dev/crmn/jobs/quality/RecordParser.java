package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.DeadLetter;
import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.Frame;
import java.io.IOException;
import java.io.Serializable;
import org.apache.flink.streaming.api.functions.ProcessFunction;
import org.apache.flink.util.Collector;
import org.apache.flink.util.OutputTag;

/**
 * Parses the records of a topic the quality job reads (predictions, late labels); a record that does not parse
 * goes to the dead letters ({@code bad-record}, the reason in one line) with its original bytes: bad input never
 * stops the job, and nothing is lost.
 */
public final class RecordParser<T> extends ProcessFunction<Frame, T> {

    /** The dead letters of every parser (one tag: one sink). */
    public static final OutputTag<DeadLetter> DEAD_LETTERS = new OutputTag<>("quality-dead-letters") {
    };

    /** What a record's bytes mean. */
    @FunctionalInterface
    public interface Parse<T> extends Serializable {
        T parse(Frame record) throws IOException;
    }

    private final Parse<T> parse;

    public RecordParser(Parse<T> parse) {
        this.parse = parse;
    }

    @Override
    public void processElement(Frame record, Context ctx, Collector<T> out) {
        T value;
        try {
            value = parse.parse(record);
        } catch (IOException | RuntimeException e) {
            ctx.output(DEAD_LETTERS, new DeadLetter(record, DeadLetterReason.BAD_RECORD,
                    e.getMessage() == null ? e.toString() : e.getMessage()));
            return;
        }
        out.collect(value);
    }
}
