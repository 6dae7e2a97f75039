package dev.crmn.connectors.format;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.crmn.model.infer.ClassScore;
import java.util.Arrays;
import java.util.Objects;

/**
 * One prediction per frame, written as JSON to the predictions topic (public contract; see
 * docs/wire-format.md). Fields may be added in later schema versions; none is renamed.
 *
 * @param schema     format version ({@link PredictionJson#CURRENT_SCHEMA})
 * @param frameId    the frame's id
 * @param key        the frame's key as text, or null
 * @param source     where the frame was read
 * @param topK       most probable classes, most probable first
 * @param model      the model that classified it
 * @param batchSize  frames in the micro-batch it was classified in
 * @param timings    milliseconds spent queued, in inference, and end to end
 * @param eventTime  the frame's event time (ms), or null
 * @param label      the class index the frame carried in its label header, or null
 * @param producedAt when the prediction was made (ms since the epoch)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.ALWAYS)
public record Prediction(
        @JsonProperty("schema") int schema,
        @JsonProperty("frame_id") String frameId,
        @JsonProperty("key") String key,
        @JsonProperty("source") Source source,
        @JsonProperty("top_k") ClassScore[] topK,
        @JsonProperty("model") ModelInfo model,
        @JsonProperty("batch_size") int batchSize,
        @JsonProperty("timings_ms") Timings timings,
        @JsonProperty("event_time") Long eventTime,
        @JsonProperty("label") Integer label,
        @JsonProperty("produced_at") long producedAt) {

    /** Source coordinates of the frame. */
    public record Source(@JsonProperty("topic") String topic, @JsonProperty("partition") int partition,
                         @JsonProperty("offset") long offset) {
    }

    /** The model version that made the prediction. */
    public record ModelInfo(@JsonProperty("name") String name, @JsonProperty("version") long version,
                            @JsonProperty("sha256") String sha256) {
    }

    /**
     * @param queue     from the frame's arrival at the batcher to the start of its batch's inference
     * @param inference the batch's forward pass (shared by all its frames)
     * @param endToEnd  from the Kafka record timestamp of the frame to the prediction
     */
    public record Timings(@JsonProperty("queue") double queue, @JsonProperty("inference") double inference,
                          @JsonProperty("end_to_end") double endToEnd) {
    }

    /** The most probable class. */
    public ClassScore top() {
        return topK[0];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Prediction p && schema == p.schema && Objects.equals(frameId, p.frameId)
                && Objects.equals(key, p.key) && Objects.equals(source, p.source) && Arrays.equals(topK, p.topK)
                && Objects.equals(model, p.model) && batchSize == p.batchSize && Objects.equals(timings, p.timings)
                && Objects.equals(eventTime, p.eventTime) && Objects.equals(label, p.label) && producedAt == p.producedAt;
    }

    @Override
    public int hashCode() {
        return Objects.hash(frameId, source, model);
    }

    @Override
    public String toString() {
        return "Prediction{" + frameId + " -> " + (topK.length > 0 ? topK[0] : "-") + " by " + model + "}";
    }
}
