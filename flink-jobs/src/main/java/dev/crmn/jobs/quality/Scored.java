package dev.crmn.jobs.quality;

/**
 * What the quality job's joins hand the tracker. {@link Kind#SERVING}: one of a serving version's predictions read
 * ({@code counted}), and whether its top class was the label ({@code correct}; null while it has none; a late
 * label that joins a prediction counted earlier comes as {@code counted = false}). {@link Kind#SHADOW}: the same for
 * a shadow version's prediction. {@link Kind#PAIR}: a frame both a shadow ({@code version}, {@code correct}) and the
 * serving version ({@code servingVersion}, {@code servingCorrect}) classified, with its label: what the shadow's
 * paired test counts.
 *
 * @param at when the join scored it (ms since the epoch; the tracker's windows use it)
 */
public record Scored(Kind kind, String model, long version, String sha256, boolean counted, Boolean correct, long at,
                     String frameId, Long servingVersion, Boolean servingCorrect) {

    public enum Kind { SERVING, SHADOW, PAIR }

    static Scored serving(String model, long version, String sha256, boolean counted, Boolean correct, long at,
                          String frameId) {
        return new Scored(Kind.SERVING, model, version, sha256, counted, correct, at, frameId, null, null);
    }

    static Scored shadow(String model, long version, String sha256, boolean counted, Boolean correct, long at,
                         String frameId) {
        return new Scored(Kind.SHADOW, model, version, sha256, counted, correct, at, frameId, null, null);
    }

    /** The pair of a labelled shadow outcome and the serving version's outcome of the same frame. */
    static Scored pair(Scored shadow, Scored serving) {
        return new Scored(Kind.PAIR, shadow.model(), shadow.version(), shadow.sha256(), false, shadow.correct(),
                Math.max(shadow.at(), serving.at()), shadow.frameId(), serving.version(), serving.correct());
    }
}
