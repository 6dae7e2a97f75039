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
 * the on-disk JSON names; docs/checkpoints.md describes each. Build one with {@link #builder()} (or
 * {@link #toBuilder()} to change a few fields); unknown fields in a file are ignored, so later versions
 * can add fields.
 *
 * @param schema        manifest format version ({@link #CURRENT_SCHEMA})
 * @param name          model name, e.g. "crmn-demo"; a model's versions share it
 * @param version       version number, increasing along a model's lineage
 * @param parentVersion the version this one was trained from, or null for a model trained from scratch
 * @param parentSha256  the SHA-256 of the parent's model zip, or null
 * @param preset        preset name the architecture came from, or null
 * @param architecture  the network's configuration
 * @param input         what the network takes
 * @param normalization per-channel normalisation applied to 8-bit pixels before the network
 * @param labels        class names, index = class index
 * @param training      how the weights were obtained (data, settings, split, steps; free-form)
 * @param metrics       measured metrics (e.g. val_accuracy, holdout_accuracy)
 * @param created       ISO-8601 creation instant
 * @param modelFile     file name of the DL4J zip, beside the manifest
 * @param modelBytes    size of the zip in bytes
 * @param sha256        hex SHA-256 of the zip
 */
@JsonIgnoreProperties(ignoreUnknown = true)
@JsonInclude(JsonInclude.Include.NON_NULL)
public record Manifest(
        @JsonProperty("schema") int schema,
        @JsonProperty("name") String name,
        @JsonProperty("version") long version,
        @JsonProperty("parent_version") Long parentVersion,
        @JsonProperty("parent_sha256") String parentSha256,
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
        @JsonProperty("sha256") String sha256) {

    public static final int CURRENT_SCHEMA = 1;

    /**
     * What the network takes: 8-bit images of this shape, normalised, in this tensor layout.
     *
     * @param layout "NHWC" or "NCHW", the layout of the stored training graph
     */
    public record InputSpec(@JsonProperty("height") int height, @JsonProperty("width") int width,
                            @JsonProperty("channels") int channels, @JsonProperty("layout") String layout) {
    }

    public static Builder builder() {
        return new Builder();
    }

    /** A builder holding this manifest's fields. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.schema = schema;
        b.name = name;
        b.version = version;
        b.parentVersion = parentVersion;
        b.parentSha256 = parentSha256;
        b.preset = preset;
        b.architecture = architecture;
        b.input = input;
        b.normalization = normalization;
        b.labels = labels;
        b.training = training;
        b.metrics = metrics;
        b.created = created;
        b.modelFile = modelFile;
        b.modelBytes = modelBytes;
        b.sha256 = sha256;
        return b;
    }

    /** This manifest with the zip's size and hash filled in. */
    public Manifest withModelFile(String file, long bytes, String hash) {
        return toBuilder().modelFile(file, bytes, hash).build();
    }

    public Manifest withMetrics(Map<String, Double> m) {
        return toBuilder().metrics(m).build();
    }

    /** Whether this manifest and {@code other} describe the same input: shape, channels and normalisation. */
    public boolean sameInput(Manifest other) {
        return input.height() == other.input.height() && input.width() == other.input.width()
                && input.channels() == other.input.channels() && normalization.equals(other.normalization);
    }

    /** "crmn-demo v3". */
    public String displayName() {
        return name + " v" + version;
    }

    /** Builder of a {@link Manifest}; {@code build()} checks the fields every manifest needs. */
    public static final class Builder {
        private int schema = CURRENT_SCHEMA;
        private String name;
        private long version = 1;
        private Long parentVersion;
        private String parentSha256;
        private String preset;
        private CrmnConfig architecture;
        private InputSpec input;
        private Normalization normalization;
        private List<String> labels;
        private Map<String, Object> training = Map.of();
        private Map<String, Double> metrics = Map.of();
        private String created = java.time.Instant.now().toString();
        private String modelFile;
        private long modelBytes;
        private String sha256;

        private Builder() {
        }

        public Builder name(String v) { name = v; return this; }
        public Builder version(long v) { version = v; return this; }
        /** The parent checkpoint (version and SHA-256), or nulls for a model trained from scratch. */
        public Builder parent(Long v, String sha) { parentVersion = v; parentSha256 = sha; return this; }
        public Builder preset(String v) { preset = v; return this; }
        public Builder architecture(CrmnConfig v) { architecture = v; return this; }
        public Builder input(InputSpec v) { input = v; return this; }
        public Builder normalization(Normalization v) { normalization = v; return this; }
        public Builder labels(List<String> v) { labels = List.copyOf(v); return this; }
        public Builder training(Map<String, Object> v) { training = v; return this; }
        public Builder metrics(Map<String, Double> v) { metrics = v; return this; }
        public Builder created(String v) { created = v; return this; }
        public Builder modelFile(String file, long bytes, String hash) { modelFile = file; modelBytes = bytes; sha256 = hash; return this; }

        /**
         * @throws IllegalArgumentException if a required field is missing or the labels do not match the
         *                                  architecture's classes
         */
        public Manifest build() {
            if (name == null || name.isBlank() || architecture == null || input == null || normalization == null
                    || labels == null) {
                throw new IllegalArgumentException("a manifest needs name, architecture, input, normalization and labels");
            }
            if (version < 1) {
                throw new IllegalArgumentException("versions start at 1, got " + version);
            }
            if (labels.size() != architecture.classes()) {
                throw new IllegalArgumentException(labels.size() + " labels for a " + architecture.classes()
                        + "-class architecture");
            }
            return new Manifest(schema, name, version, parentVersion, parentSha256, preset, architecture, input,
                    normalization, labels, training, metrics, created, modelFile, modelBytes, sha256);
        }
    }
}
