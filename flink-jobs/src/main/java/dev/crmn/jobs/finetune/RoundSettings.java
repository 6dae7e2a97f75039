package dev.crmn.jobs.finetune;

import java.io.Serializable;

/**
 * What the {@link TrainerOperator} needs, shipped with the job graph (no secrets: the signing key is read on the
 * TaskManager from {@code signingKeyFile} or {@code $CRMN_MODEL_STORE_KEY}, and must have {@code keyFingerprint},
 * the fingerprint of the key the job was started with; null: an unsigned store). {@code anchor}: null for none.
 * {@code shadow}: promoted versions are announced as shadows (the quality job serves or rejects them) instead of
 * to serve. {@code distillation}: the weight of the base's own predictions in the learner's training targets (0: the
 * labels alone). {@code pruneKeep}: above 0, the store is pruned after each promotion, keeping that many newest
 * versions besides what {@link dev.crmn.connectors.store.Retention} always keeps; 0: never. {@code threads} and
 * {@code replicas}: how the learner uses the TaskManager's cores ({@link #learnerThreads(int)}).
 */
public record RoundSettings(String modelName, String storeUri, String signingKeyFile, String modelCache,
                            int roundFrames, long roundIntervalMs, int steps, int batchSize, double learningRate,
                            double averageDecay,
                            int holdoutPercent, int holdoutSize, int holdoutMaxUses, int reservoirSize, int threads,
                            String labelledTopic, String keyFingerprint, PromotionGate gate, int patience,
                            Anchor anchor, boolean shadow, double distillation, int pruneKeep, int replicas)
        implements Serializable {

    /** Replicas as many as the threads allow, each training at least this many images of a step. */
    static final int MIN_IMAGES_PER_REPLICA = 32;

    /** Settings whose promotions are announced to serve, without distillation. */
    public RoundSettings(String modelName, String storeUri, String signingKeyFile, String modelCache, int roundFrames,
                         long roundIntervalMs, int steps, int batchSize, double learningRate, double averageDecay,
                         int holdoutPercent, int holdoutSize, int holdoutMaxUses, int reservoirSize, int threads,
                         String labelledTopic, String keyFingerprint, PromotionGate gate, int patience, Anchor anchor) {
        this(modelName, storeUri, signingKeyFile, modelCache, roundFrames, roundIntervalMs, steps, batchSize, learningRate,
                averageDecay, holdoutPercent, holdoutSize, holdoutMaxUses, reservoirSize, threads, labelledTopic,
                keyFingerprint, gate, patience, anchor, false, 0, 0, 0);
    }

    public RoundSettings {
        if (gate == null) {
            throw new IllegalArgumentException("a promotion gate is required");
        }
        // checked when the job is planned, each naming its option, not at the first round inside the running job
        check(patience >= 0, "patience", patience, "0 (no rounds over the reservoir while the stream is quiet) or more");
        check(pruneKeep >= 0, "prune-keep", pruneKeep, "0 (never prune) or the newest versions to keep");
        check(roundFrames >= 1, "round-frames", roundFrames, "1 or more");
        check(roundIntervalMs >= 0, "round-interval", roundIntervalMs / 1000, "0 or more seconds");
        check(steps >= 1, "round-steps", steps, "1 or more");
        check(batchSize >= 1, "batch-size", batchSize, "1 or more");
        check(learningRate > 0 && Double.isFinite(learningRate), "learning-rate", learningRate, "above 0");
        check(averageDecay >= 0 && averageDecay < 1, "average-decay", averageDecay, "in [0, 1) (0: no average)");
        check(holdoutPercent >= 1 && holdoutPercent <= 50, "holdout-percent", holdoutPercent, "1 to 50");
        check(holdoutSize >= 1, "holdout-size", holdoutSize, "1 or more");
        check(holdoutMaxUses >= 1, "holdout-max-uses", holdoutMaxUses, "1 or more");
        check(reservoirSize >= 1, "reservoir-size", reservoirSize, "1 or more");
        check(distillation >= 0 && distillation < 1, "distillation", distillation, "in [0, 1) (0: the labels alone)");
        check(threads >= 0, "threads", threads, "0 (all cores) or more");
        check(replicas >= 0, "replicas", replicas, "0 (chosen from the threads) or more");
        check(replicas == 0 || batchSize % replicas == 0, "replicas", replicas,
                "a divisor of --batch-size " + batchSize + " (each replica trains an equal share of a step)");
    }

    /**
     * How the learner uses a TaskManager with {@code cores} cores: {@code --threads} OpenMP threads in all (0: every
     * core), shared by {@code --replicas} copies of the network that split each step's batch ({@code
     * dev.crmn.model.train.DataParallel}); 0 replicas: one per thread, as many as leave each at least {@value
     * #MIN_IMAGES_PER_REPLICA} images of a step and divide the batch (2 at the default batch of 64 on two cores or
     * more; 1 on one core).
     */
    public LearnerThreads learnerThreads(int cores) {
        int total = threads > 0 ? threads : Math.max(1, cores);
        int r = replicas;
        if (r == 0) {
            r = Math.max(1, Math.min(total, batchSize / MIN_IMAGES_PER_REPLICA));
            while (batchSize % r != 0) {
                r--;
            }
        }
        return new LearnerThreads(r, Math.max(1, total / r));
    }

    /** The learner's replicas and the OpenMP threads of each. */
    public record LearnerThreads(int replicas, int threadsEach) {
    }

    /** Refuses a setting out of range in one line naming its option: "--patience -1: must be 0 ... or more". */
    static void check(boolean ok, String option, Object value, String rule) {
        if (!ok) {
            throw new IllegalArgumentException("--" + option + " " + value + ": must be " + rule);
        }
    }
}
