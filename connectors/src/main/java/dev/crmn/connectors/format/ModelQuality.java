package dev.crmn.connectors.format;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;

/**
 * The quality job's latest figures for one model version, on the compacted {@code model-quality} topic (key
 * {@link #key}: {@code name/vN}; public contract, docs/wire-format.md "Model quality"). Fields may be added in
 * later schema versions; none is renamed.
 *
 * @param schema      format version ({@link #SCHEMA})
 * @param model       model name
 * @param version     model version
 * @param status      {@code serving} (its predictions are the newest seen), {@code replaced} (a newer version
 *                    serves), {@code rolled-back}, {@code shadow} (scored beside the serving version, never served),
 *                    {@code rejected} (a shadow the quality job, or someone, rejected)
 * @param predictions predictions of this version the job read
 * @param labelled    of them, those with a label (in the frame's header, or a late one on {@code labels})
 * @param correct     of those, the ones whose top class was the label
 * @param accuracy    {@code correct / labelled} since the version started serving; null before its first label
 * @param window      the same over the last {@code seconds} (by the time the job scored them)
 * @param replaces    the version it replaced (the one served before it), or null
 * @param baseline    that version's figures, which a rollback test compares with; null without one
 * @param paired      a shadow's paired figures against the serving version on the same labelled frames, or null
 * @param lastTest    the last test made (a rollback test, or a shadow's paired test), or null
 * @param decision    the rollback decided, or null
 * @param firstSeen   when the job read its first prediction (ms since the epoch)
 * @param updatedAt   when these figures were written
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record ModelQuality(
        @JsonProperty("schema") int schema,
        @JsonProperty("model") String model,
        @JsonProperty("version") long version,
        @JsonProperty("status") String status,
        @JsonProperty("predictions") long predictions,
        @JsonProperty("labelled") long labelled,
        @JsonProperty("correct") long correct,
        @JsonProperty("accuracy") Double accuracy,
        @JsonProperty("window") Window window,
        @JsonProperty("replaces") Long replaces,
        @JsonProperty("baseline") Figures baseline,
        @JsonProperty("paired") Paired paired,
        @JsonProperty("last_test") Test lastTest,
        @JsonProperty("decision") Decision decision,
        @JsonProperty("first_seen") long firstSeen,
        @JsonProperty("updated_at") long updatedAt) {

    public static final int SCHEMA = 1;

    /** Accuracy over the last {@code seconds}. */
    public record Window(@JsonProperty("seconds") long seconds, @JsonProperty("labelled") long labelled,
                         @JsonProperty("correct") long correct, @JsonProperty("accuracy") Double accuracy) {
    }

    /** Another version's labelled figures. */
    public record Figures(@JsonProperty("version") long version, @JsonProperty("labelled") long labelled,
                          @JsonProperty("correct") long correct, @JsonProperty("accuracy") Double accuracy) {
    }

    /**
     * A rollback test: at look {@code look} (after {@code min-labelled × 2^look} labelled predictions), the one-sided
     * p-value that this version is no worse than its baseline, against the level {@code alpha} of that look.
     */
    public record Test(@JsonProperty("test") String test, @JsonProperty("look") int look,
                       @JsonProperty("labelled") long labelled, @JsonProperty("p_value") double pValue,
                       @JsonProperty("alpha") double alpha, @JsonProperty("at") long at) {
    }

    /**
     * A shadow's paired figures: on {@code pairs} labelled frames that both it and the serving version {@code against}
     * classified, {@code shadowOnlyCorrect} it got right and the serving version wrong, {@code servingOnlyCorrect} the
     * other way round (the frames both got right or both wrong say nothing about which is better).
     */
    public record Paired(@JsonProperty("against") long against, @JsonProperty("pairs") long pairs,
                         @JsonProperty("shadow_only_correct") long shadowOnlyCorrect,
                         @JsonProperty("serving_only_correct") long servingOnlyCorrect) {
    }

    /**
     * A decision about this version, why and when: {@code rollback} (to version {@code to}), or for a shadow {@code
     * serve} ({@code to}: this version) or {@code reject} ({@code to}: the version that goes on serving).
     */
    public record Decision(@JsonProperty("action") String action, @JsonProperty("to") long to,
                           @JsonProperty("reason") String reason, @JsonProperty("at") long at) {
    }

    /** The record key on model-quality: one record per version survives compaction. */
    public String key() {
        return key(model, version);
    }

    public static String key(String model, long version) {
        return model + "/v" + version;
    }

    public byte[] toBytes() {
        try {
            return PredictionJson.JSON.writeValueAsBytes(this);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Reads a model-quality value; refuses schemas it does not know, in one line. */
    public static ModelQuality fromBytes(byte[] bytes) throws IOException {
        ModelQuality q = PredictionJson.JSON.readValue(bytes, ModelQuality.class);
        if (q.schema() != SCHEMA) {
            throw new IOException("a model-quality record of schema " + q.schema() + "; this release reads " + SCHEMA);
        }
        return q;
    }

    @Override
    public String toString() {
        return new String(toBytes(), StandardCharsets.UTF_8);
    }
}
