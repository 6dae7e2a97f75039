package dev.crmn.connectors.store;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;

/**
 * What happened to a published version, as its store records it (docs/checkpoints.md, "Statuses"): each change is
 * one record with its time and reason; the newest is the version's status. A version without records is
 * {@code published} (in the store, never announced).
 */
public enum ModelStatus {
    /** Announced to serve (by {@code crmn publish --announce} or the fine-tuning job's promotion). */
    SERVING,
    /** Announced as a shadow: scored beside the serving version, its predictions never served. */
    SHADOW,
    /** A shadow judged worse than the serving version: never served, never adopted again. */
    REJECTED,
    /** Served, judged worse than the version it replaced, and replaced by it: never served or adopted again. */
    ROLLED_BACK,
    /** Served until a newer version was announced. */
    RETIRED;

    /** The name in JSON and on the command line: lower case, {@code rolled-back}. */
    public String wireName() {
        return name().toLowerCase(Locale.ROOT).replace('_', '-');
    }

    public static ModelStatus parse(String s) {
        for (ModelStatus m : values()) {
            if (m.wireName().equals(s)) {
                return m;
            }
        }
        throw new IllegalArgumentException("unknown model status '" + s + "' (serving, shadow, rejected, rolled-back, retired)");
    }

    /** Whether a job may serve or adopt a version in this status (a rejected or rolled-back one: never again). */
    public boolean usable() {
        return this != REJECTED && this != ROLLED_BACK;
    }

    /**
     * One change of a version's status.
     *
     * @param status the new status ({@link #wireName})
     * @param at     when, epoch milliseconds
     * @param reason why, in words (numbers and test for a decision)
     */
    public record Change(@JsonProperty("status") String status, @JsonProperty("at") long at,
                         @JsonProperty("reason") String reason) {
        public ModelStatus value() {
            return parse(status);
        }
    }
}
