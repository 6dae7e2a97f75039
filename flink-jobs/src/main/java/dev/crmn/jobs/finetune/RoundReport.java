package dev.crmn.jobs.finetune;

import com.fasterxml.jackson.annotation.JsonInclude;
import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.Locale;

/**
 * One fine-tuning round as the job reports it (log, metrics, {@code crmn finetune --json}).
 *
 * @param candidateVersion the version the candidate was promoted as, or null when it was not
 * @param baseAccuracy     the serving model's holdout accuracy, null when the round was skipped
 * @param baseLoss         its mean loss on the same images (cross-entropy), null when the round was skipped
 * @param candidateLoss    the candidate's, null when the round was skipped
 * @param newFrames        the new frames it trained on (0: a round over the reservoir while the stream is quiet)
 * @param decision         {@code promoted}, {@code refused} or {@code skipped}
 * @param reason           why, with the statistic (docs/finetune.md, "The gate")
 * @param test             the gate's statistic ({@link PromotionGate.Test#statistic()})
 * @param pValue           its p-value, null when no test ran
 * @param anchorAccuracy   the candidate's accuracy on the anchor's held-out images (the forgetting check), null
 *                         without one
 * @param anchorReference  the accuracy there of the version fine-tuning started from, null without a check
 * @param decidedAt        when the round was decided (ms since the epoch)
 * @param countsTowardPatience for a refused candidate, whether it counts towards {@code --patience}: true when it is
 *                         neither ahead of the serving model in holdout accuracy nor below it in loss
 *                         ({@link Learner#progressed}); null for a promoted or skipped round
 */
@JsonInclude(JsonInclude.Include.ALWAYS)
public record RoundReport(@JsonProperty("round") long round,
                          @JsonProperty("base_version") long baseVersion,
                          @JsonProperty("candidate_version") Long candidateVersion,
                          @JsonProperty("base_holdout_accuracy") Double baseAccuracy,
                          @JsonProperty("candidate_holdout_accuracy") Double candidateAccuracy,
                          @JsonProperty("base_holdout_loss") Double baseLoss,
                          @JsonProperty("candidate_holdout_loss") Double candidateLoss,
                          @JsonProperty("holdout_images") int holdoutImages,
                          @JsonProperty("new_frames") int newFrames,
                          @JsonProperty("train_images") int trainImages,
                          @JsonProperty("steps") long steps,
                          @JsonProperty("decision") String decision,
                          @JsonProperty("reason") String reason,
                          @JsonProperty("test") String test,
                          @JsonProperty("p_value") Double pValue,
                          @JsonProperty("anchor_check_accuracy") Double anchorAccuracy,
                          @JsonProperty("anchor_check_reference") Double anchorReference,
                          @JsonProperty("seconds") double seconds,
                          @JsonProperty("images_per_s") double imagesPerSecond,
                          @JsonProperty("decided_at") long decidedAt,
                          @JsonProperty("counts_toward_patience") Boolean countsTowardPatience) {

    public boolean promoted() {
        return candidateVersion != null;
    }

    /**
     * The round in one line, as the log and {@code crmn finetune}'s console print it: "round 3: base v2 0.2500 vs
     * candidate 0.3280 on 500 holdout images: promoted as v3 (+7.80 points, ...)", a refusal with whether it counts
     * towards {@code --patience}, a skipped round with its reason alone.
     */
    public String line() {
        if (baseAccuracy == null) {
            return String.format(Locale.ROOT, "round %d: base v%d: %s: %s", round, baseVersion, decision, reason);
        }
        return String.format(Locale.ROOT, "round %d: base v%d %.4f vs candidate %.4f on %d holdout images: %s (%s%s)",
                round, baseVersion, baseAccuracy, candidateAccuracy, holdoutImages,
                promoted() ? "promoted as v" + candidateVersion : decision, reason, patienceNote());
    }

    private String patienceNote() {
        if (countsTowardPatience == null) {
            return "";
        }
        return countsTowardPatience ? "; counts towards --patience"
                : "; ahead in holdout accuracy or loss, so not counted towards --patience";
    }

    /** The holdout's size (the name this field had before {@code holdout_images}; kept for readers of that). */
    @JsonProperty("holdout_size")
    public int holdoutSize() {
        return holdoutImages;
    }
}
