package dev.crmn.model.checkpoint;

import com.fasterxml.jackson.annotation.JsonIgnoreProperties;
import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.data.Normalization;
import java.util.List;
import java.util.Map;

/**
 * The manifest that travels beside a checkpoint's DL4J model zip ({@code manifest.json}). Field names are
 * the on-disk JSON names; see docs/checkpoints.md.
 *
 * @param schema        manifest format version ({@link #CURRENT_SCHEMA})
 * @param name          model name, e.g. "crmn-demo"; a model's versions share it
 * @param version       version number, increasing along a model's lineage
 * @param parentVersion the version this one was trained from, or null for a model trained from scratch
 * @param preset        preset name the architecture came from, or null
 * @param architecture  the network's configuration
 * @param input         what the network takes
 * @param normalization per-channel normalisation applied to 8-bit pixels before the network
 * @param labels        class names, index = class index
 * @param training      how the weights were obtained
 * @param metrics       measured metrics (e.g. val_accuracy, test_accuracy)
 * @param created       ISO-8601 creation instant
 * @param modelFile     file name of the DL4J zip, beside the manifest
 * @param modelBytes    size of the zip in bytes
 * @param sha256        hex SHA-256 of the zip
 * @param signature     optional HMAC-SHA256 (hex) of this manifest without the signature, set by a model store
 *                      configured with a signing key
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Manifest(
        @JsonProperty("schema") int schema,
        @JsonProperty("name") String name,
        @JsonProperty("version") long version,
        @JsonProperty("parent_version") Long parentVersion,
        @JsonProperty("preset") String preset,
        @JsonProperty("architecture") CrmnConfig architecture,
        @JsonProperty("input") InputSpec input,
        @JsonProperty("normalization") Normalization normalization,
        @JsonProperty("labels") List<String> labels,
        @JsonProperty("training") Map<String, Object> training,
        @JsonProperty("metrics") Map<String, Double> metrics,
        @JsonProperty("created") String created,
        @JsonProperty("model_file") String modelFile,
        @JsonProperty("model_bytes") long modelBytes,
        @JsonProperty("sha256") String sha256,
        @JsonProperty("signature") String signature) {

    public static final int CURRENT_SCHEMA = 1;

    /**
     * What the network takes: 8-bit images of this shape, normalised, in this tensor layout.
     *
     * @param layout "NHWC" or "NCHW", the layout of the stored training graph
     */
    public record InputSpec(@JsonProperty("height") int height, @JsonProperty("width") int width,
                            @JsonProperty("channels") int channels, @JsonProperty("layout") String layout) {
    }

    /** This manifest with the zip's size and hash filled in. */
    public Manifest withModelFile(String file, long bytes, String hash) {
        return new Manifest(schema, name, version, parentVersion, preset, architecture, input, normalization, labels,
                training, metrics, created, file, bytes, hash, signature);
    }

    public Manifest withMetrics(Map<String, Double> m) {
        return new Manifest(schema, name, version, parentVersion, preset, architecture, input, normalization, labels,
                training, m, created, modelFile, modelBytes, sha256, signature);
    }

    public Manifest withSignature(String sig) {
        return new Manifest(schema, name, version, parentVersion, preset, architecture, input, normalization, labels,
                training, metrics, created, modelFile, modelBytes, sha256, sig);
    }

    /** "crmn-demo v3". */
    public String displayName() {
        return name + " v" + version;
    }
}
