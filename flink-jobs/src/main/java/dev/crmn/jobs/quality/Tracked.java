package dev.crmn.jobs.quality;

import com.fasterxml.jackson.annotation.JsonAutoDetect;
import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.io.IOException;
import java.io.UncheckedIOException;
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
