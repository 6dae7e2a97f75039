package dev.crmn.connectors.format;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Map;

/**
 * A pointer to a published checkpoint, announced on the compacted model-updates topic (key = model name).
 * Never carries weights.
 *
 * @param schema        format version ({@link ModelRefJson#CURRENT_SCHEMA})
 * @param name          model name
 * @param version       model version
 * @param uri           where the checkpoint directory is ({@code file:///...}, {@code s3://...}, ...)
 * @param sha256        SHA-256 of the checkpoint's model zip
 * @param metrics       metrics from the manifest (e.g. val_accuracy, holdout_accuracy)
 * @param parentVersion the version it was fine-tuned from, or null
 * @param parentSha256  the SHA-256 of that parent's model zip, or null
 * @param publishedAt   when it was published (ms since the epoch)
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record ModelRef(
        @JsonProperty("schema") int schema,
        @JsonProperty("name") String name,
        @JsonProperty("version") long version,
        @JsonProperty("uri") String uri,
        @JsonProperty("sha256") String sha256,
        @JsonProperty("metrics") Map<String, Double> metrics,
        @JsonProperty("parent_version") Long parentVersion,
        @JsonProperty("parent_sha256") String parentSha256,
        @JsonProperty("published_at") long publishedAt) implements java.io.Serializable {

    /** "crmn-demo v3". */
    public String displayName() {
        return name + " v" + version;
    }
}
