package dev.crmn.jobs.quality;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.TreeMap;

/**
 * The quality job's state for one model name: every version seen and which one serves. Kept in keyed state as JSON
 * text (a {@code format} field first; later releases read what earlier ones wrote and ignore fields they do not
 * know), so the state is an immutable string: changing it never races an asynchronous snapshot.
 */
@JsonAutoDetect(fieldVisibility = JsonAutoDetect.Visibility.ANY, getterVisibility = JsonAutoDetect.Visibility.NONE,
        isGetterVisibility = JsonAutoDetect.Visibility.NONE)
@JsonIgnoreProperties(ignoreUnknown = true)
final class Tracked {

    static final int FORMAT = 1;
    private static final ObjectMapper JSON = new ObjectMapper()
            .disable(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES);

    int format = FORMAT;
    /** The version serving now: the newest seen, unless rolled back; null before the first prediction. */
    Long serving;
    TreeMap<Long, VersionFigures> versions = new TreeMap<>();
    /** The highest version whose figures were forgotten ({@link #forgetSettled}); 0 while none was. */
    long forgottenUpTo;

    /**
     * Whether {@code version}'s figures were forgotten: its late predictions and labels count nowhere (a version
     * that serves again, by a rollback to it, starts new figures).
     */
    boolean forgotten(long version) {
        return version <= forgottenUpTo && !versions.containsKey(version)
                && (serving == null || serving != version);
    }

    /**
     * Forgets the figures of settled versions (replaced, rolled back or rejected, their last figures reported) but
     * the newest {@code keep}: the state, which the tracker writes on every prediction, would otherwise grow by one
     * version per promotion for as long as the job runs. Kept whatever their age: the serving version, the one it
     * replaced (its rollback baseline), the versions shadows are paired against, figures not reported yet, and every
     * version newer than the serving one (shadows, a version about to serve).
     *
     * @return the versions forgotten
     */
    List<Long> forgetSettled(int keep) {
        long servingVersion = serving == null ? 0 : serving;
        Set<Long> needed = new HashSet<>();
        if (serving != null) {
            needed.add(serving);
            VersionFigures s = versions.get(serving);
            if (s != null && s.replaces != null) {
                needed.add(s.replaces);
            }
        }
        List<Long> settled = new ArrayList<>();
        for (VersionFigures v : versions.values()) {
            if (v.version > servingVersion) { // a shadow, or a version about to serve: never forgotten
                if (v.pairedAgainst != null) {
                    needed.add(v.pairedAgainst);
                }
            } else if (!v.changed) {
                settled.add(v.version);
            }
        }
        settled.removeAll(needed);
        List<Long> gone = new ArrayList<>(settled.subList(0, Math.max(0, settled.size() - keep))); // ascending
        for (Long v : gone) {
            versions.remove(v);
            forgottenUpTo = Math.max(forgottenUpTo, v);
        }
        return gone;
    }

    String toJson() {
        try {
            return JSON.writeValueAsString(this);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static Tracked fromJson(String json) {
        try {
            Tracked t = JSON.readValue(json, Tracked.class);
            if (t.format > FORMAT) {
                throw new IllegalStateException("the quality job's state has format " + t.format + ", this release reads"
                        + " 1 to " + FORMAT + ": the savepoint was written by a newer release of crmn-flink");
            }
            return t;
        } catch (IOException e) {
            throw new UncheckedIOException("the quality job's state does not read: " + e.getMessage(), e);
        }
    }
}
