package dev.crmn.jobs.quality;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import dev.crmn.connectors.format.ModelQuality;

/**
 * What the quality job knows of one model version (mutable; kept in keyed state as part of {@link Tracked}'s
 * JSON): counts since it started serving, a sliding window of {@link #BUCKETS} buckets, what it replaced, its last
 * rollback test and its decision.
 */
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
        isGetterVisibility = JsonAutoDetect.Visibility.NONE)
@JsonIgnoreProperties(ignoreUnknown = true)
final class VersionFigures {

    static final int BUCKETS = 10;

    long version;
    String sha256;
    String status = "serving";
    long firstSeen;
    long predictions;
    long labelled;
    long correct;
    Long replaces;
    int lastLook = -1;
    ModelQuality.Figures baseline;
    /** A shadow's pairs with the serving version: how many, and the two kinds of disagreement. */
    long pairs;
    long shadowOnlyCorrect;
    long servingOnlyCorrect;
    Long pairedAgainst;
    int lastPairLook = -1;
    ModelQuality.Test lastTest;
    ModelQuality.Decision decision;
    /** Window buckets: the start of each (ms; 0 unused), labelled and correct in it. */
    long[] bucketStart = new long[BUCKETS];
    long[] bucketLabelled = new long[BUCKETS];
    long[] bucketCorrect = new long[BUCKETS];
    boolean changed;

    VersionFigures() {
    }

    VersionFigures(long version, String sha256, long firstSeen, Long replaces) {
        this.version = version;
        this.sha256 = sha256;
        this.firstSeen = firstSeen;
        this.replaces = replaces;
    }

    /** A pair of this shadow's and the serving version's outcomes on one labelled frame. */
    void pair(long against, boolean shadowCorrect, boolean servingCorrect) {
        pairedAgainst = against;
        pairs++;
        if (shadowCorrect && !servingCorrect) {
            shadowOnlyCorrect++;
        } else if (servingCorrect && !shadowCorrect) {
            servingOnlyCorrect++;
        }
        changed = true;
    }

    void add(boolean counted, Boolean isCorrect, long at, long windowMs) {
        if (counted) {
            predictions++;
        }
        if (isCorrect != null) {
            labelled++;
            long width = Math.max(1, windowMs / BUCKETS);
            long start = at - Math.floorMod(at, width);
            int i = (int) Math.floorMod(start / width, (long) BUCKETS);
            if (bucketStart[i] != start) {
                bucketStart[i] = start;
                bucketLabelled[i] = 0;
                bucketCorrect[i] = 0;
            }
            bucketLabelled[i]++;
            if (isCorrect) {
                correct++;
                bucketCorrect[i]++;
            }
        }
        changed = true;
    }

    Double accuracy() {
        return labelled == 0 ? null : (double) correct / labelled;
    }

    ModelQuality.Figures figures() {
        return new ModelQuality.Figures(version, labelled, correct, accuracy());
    }

    ModelQuality.Window window(long now, long windowMs) {
        long l = 0;
        long c = 0;
        for (int i = 0; i < BUCKETS; i++) {
            if (bucketStart[i] != 0 && bucketStart[i] > now - windowMs) {
                l += bucketLabelled[i];
                c += bucketCorrect[i];
            }
        }
        return new ModelQuality.Window(windowMs / 1000, l, c, l == 0 ? null : (double) c / l);
    }

    ModelQuality quality(String model, long now, long windowMs) {
        return new ModelQuality(ModelQuality.SCHEMA, model, version, status, predictions, labelled, correct, accuracy(),
                window(now, windowMs), replaces, baseline, pairedAgainst == null ? null : new ModelQuality.Paired(
                pairedAgainst, pairs, shadowOnlyCorrect, servingOnlyCorrect), lastTest, decision, firstSeen, now);
    }
}
