package dev.crmn.connectors.format;

import java.io.IOException;
import java.util.Locale;

/**
 * A record of the model-updates topic: a {@link ModelRef} and what to do with it. The value is always the
 * {@code ModelRef} JSON (schema 1); the action and its details travel in headers, so a consumer that knows only
 * "serve this version" reads every record as that and keeps working (docs/wire-format.md, "Model updates").
 *
 * @param ref     the version the record names
 * @param action  what to do with it
 * @param replaces for a {@link Action#ROLLBACK}: the version rolled back (null otherwise)
 * @param reason   why, in words (null when none was given)
 */
public record ModelUpdate(ModelRef ref, Action action, Long replaces, String reason) {

    /** Header: the action ({@link Action#wireName}); absent means {@code serve}. */
    public static final String ACTION_HEADER = "crmn-action";
    /** Header of a rollback: the version rolled back (decimal). */
    public static final String REPLACES_HEADER = "crmn-replaces";
    /** Header: why, in words. */
    public static final String REASON_HEADER = "crmn-reason";

    public enum Action {
        /** Serve this version if it is newer than any requested (what every record meant before actions). */
        SERVE,
        /**
         * Go back to this (older) version now, away from {@code replaces}, which is never served again. To a consumer
         * that does not know actions it reads as "serve this version": ignored while a newer one serves, and the
         * version a restarted consumer starts from (the compacted topic's newest record of the model).
         */
        ROLLBACK,
        /**
         * Score this version beside the serving one on the same frames, its predictions to shadow-predictions only,
         * never to predictions. Written under the key {@code <name>/shadow} with a schema-2 value, so a consumer that
         * does not know actions skips it (it reads schema 1 only) and compaction keeps the model's serve record.
         */
        SHADOW,
        /** Stop scoring this shadow version: it was rejected (never served). Keyed and valued as {@link #SHADOW}. */
        REJECT;

        /** Whether records of this action are shadow records (key {@code <name>/shadow}, value schema 2). */
        public boolean shadowRecord() {
            return this == SHADOW || this == REJECT;
        }

        /**
         * Whether a record of this action names the version to serve (serve, rollback): the newest such record of a
         * model is the version a consumer starting now serves.
         */
        public boolean namesServingVersion() {
            return !shadowRecord();
        }

        public String wireName() {
            return name().toLowerCase(Locale.ROOT);
        }

        /** @throws IOException for an action this build does not know (the record must not be read as "serve") */
        public static Action parse(String s) throws IOException {
            if (s == null) {
                return SERVE;
            }
            for (Action a : values()) {
                if (a.wireName().equals(s)) {
                    return a;
                }
            }
            throw new IOException("unknown model-updates action '" + s + "' (this build knows serve, rollback, shadow,"
                    + " reject)");
        }
    }

    /** The key suffix of shadow records: {@code <name>/shadow}. */
    public static final String SHADOW_KEY_SUFFIX = "/shadow";

    /** Score {@code ref} as a shadow of the serving version. */
    public static ModelUpdate shadow(ModelRef ref, String reason) {
        return new ModelUpdate(ref, Action.SHADOW, null, reason);
    }

    /** Stop scoring the shadow {@code ref}: rejected. */
    public static ModelUpdate reject(ModelRef ref, String reason) {
        return new ModelUpdate(ref, Action.REJECT, null, reason);
    }

    public static ModelUpdate serve(ModelRef ref) {
        return new ModelUpdate(ref, Action.SERVE, null, null);
    }

    public static ModelUpdate rollback(ModelRef to, long replaces, String reason) {
        if (to.version() >= replaces) {
            throw new IllegalArgumentException("a rollback goes to an older version: v" + to.version() + " replaces v" + replaces);
        }
        return new ModelUpdate(to, Action.ROLLBACK, replaces, reason);
    }
}
