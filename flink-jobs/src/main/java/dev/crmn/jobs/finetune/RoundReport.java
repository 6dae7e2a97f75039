package dev.crmn.jobs.finetune;

import com.fasterxml.jackson.annotation.JsonProperty;

/**
 * One fine-tuning round as the job reports it (log, metrics, {@code crmn finetune --json}).
 *
 * @param candidateVersion the version the candidate was promoted as, or null when it was refused
 * @param decision         {@code promoted}, or why not
 */
public record RoundReport(@JsonProperty("round") long round,
                          @JsonProperty("base_version") long baseVersion,
                          @JsonProperty("candidate_version") Long candidateVersion,
                          @JsonProperty("base_holdout_accuracy") double baseAccuracy,
                          @JsonProperty("candidate_holdout_accuracy") double candidateAccuracy,
                          @JsonProperty("holdout_size") int holdoutSize,
                          @JsonProperty("train_images") int trainImages,
                          @JsonProperty("steps") long steps,
                          @JsonProperty("decision") String decision,
                          @JsonProperty("seconds") double seconds,
                          @JsonProperty("images_per_s") double imagesPerSecond) {

    public boolean promoted() {
        return candidateVersion != null;
    }
}
