package dev.crmn.jobs.finetune;

import java.io.Serializable;

/**
 * What the {@link TrainerOperator} needs, shipped with the job graph (no secrets: the signing key is read on the
 * TaskManager from {@code signingKeyFile} or {@code $CRMN_MODEL_STORE_KEY}, and must have {@code keyFingerprint},
 * the fingerprint of the key the job was started with; null: an unsigned store). {@code anchor}: null for none.
 * {@code shadow}: promoted versions are announced as shadows (the quality job serves or rejects them) instead of
 * to serve. {@code distillation}: the weight of the base's own predictions in the learner's training targets (0: the
 * labels alone). {@code pruneKeep}: above 0, the store is pruned after each promotion, keeping that many newest
 * versions besides what {@link dev.crmn.connectors.store.Retention} always keeps; 0: never.
 */
public record RoundSettings(String modelName, String storeUri, String signingKeyFile, String modelCache,
                            int roundFrames, long roundIntervalMs, int steps, int batchSize, double learningRate,
                            double averageDecay,
                            int holdoutPercent, int holdoutSize, int holdoutMaxUses, int reservoirSize, int threads,
                            String labelledTopic, String keyFingerprint, PromotionGate gate, int patience,
                            Anchor anchor, boolean shadow, double distillation, int pruneKeep)
        implements Serializable {

    /** Settings whose promotions are announced to serve, without distillation. */
    public RoundSettings(String modelName, String storeUri, String signingKeyFile, String modelCache, int roundFrames,
                         long roundIntervalMs, int steps, int batchSize, double learningRate, double averageDecay,
                         int holdoutPercent, int holdoutSize, int holdoutMaxUses, int reservoirSize, int threads,
                         String labelledTopic, String keyFingerprint, PromotionGate gate, int patience, Anchor anchor) {
        this(modelName, storeUri, signingKeyFile, modelCache, roundFrames, roundIntervalMs, steps, batchSize, learningRate,
                averageDecay, holdoutPercent, holdoutSize, holdoutMaxUses, reservoirSize, threads, labelledTopic,
                keyFingerprint, gate, patience, anchor, false, 0, 0);
    }

    public RoundSettings {
        if (gate == null || patience < 0) {
            throw new IllegalArgumentException("a promotion gate is required, and patience >= 0");
        }
        if (pruneKeep < 0) { // checked when the job is planned, not at its first promotion inside the running job
            throw new IllegalArgumentException("--prune-keep must be 0 (never prune) or the newest versions to keep, got "
                    + pruneKeep);
        }
        if (roundFrames < 1 || steps < 1 || batchSize < 1 || !(learningRate > 0) || averageDecay < 0 || averageDecay >= 1
                || holdoutPercent < 1 || holdoutPercent > 50 || holdoutSize < 1 || holdoutMaxUses < 1 || reservoirSize < 1
                || distillation < 0 || distillation >= 1) {
            throw new IllegalArgumentException("fine-tuning settings out of range: round frames, steps, batch size,"
                    + " holdout size and reservoir size >= 1, learning rate > 0, average decay and distillation in [0, 1),"
                    + " holdout percent 1..50");
        }
    }
}
