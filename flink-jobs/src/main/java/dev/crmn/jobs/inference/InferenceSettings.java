package dev.crmn.jobs.inference;

import dev.crmn.connectors.format.ModelRef;
import java.io.Serializable;

/**
 * What the {@link MicroBatchInferenceOperator} needs, shipped with the job graph (no secrets: the signing key is
 * read on each TaskManager from {@code signingKeyFile} or {@code $CRMN_MODEL_STORE_KEY}).
 *
 * @param initialModel      the version to serve when there is no state to restore
 * @param expected          input and classes every served version must have (what frames are decoded for)
 * @param batchSize         frames per batch (a padded size of the serving network)
 * @param maxDelayMs        longest a frame waits for its batch
 * @param topK              classes per prediction
 * @param threadsPerSubtask OpenMP threads per subtask (0 = cores / parallelism)
 * @param signingKeyFile    HMAC key file of a signed store, or null
 * @param modelCache        the configured fetch cache directory, or null: {@code crmn-model-cache} in each TaskManager's temp dir
 * @param shadows           whether shadow versions are scored (the shadow-predictions topic exists)
 * @param shadowFraction    the share of batches a shadow scores, in (0, 1]
 */
public record InferenceSettings(ModelRef initialModel, ModelLoader.Expected expected, int batchSize, long maxDelayMs,
                                int topK, int threadsPerSubtask, String signingKeyFile, String modelCache, String engine,
                                String keyFingerprint, boolean shadows, double shadowFraction)
        implements Serializable {

    public InferenceSettings {
        if (batchSize < 1 || maxDelayMs < 0 || topK < 1 || threadsPerSubtask < 0) {
            throw new IllegalArgumentException("batch size and top-k must be >= 1, max delay and threads >= 0");
        }
        checkShadowFraction(shadowFraction);
    }

    /** @throws IllegalArgumentException unless {@code f} is in (0, 1] */
    static void checkShadowFraction(double f) {
        if (!(f > 0 && f <= 1)) {
            throw new IllegalArgumentException("--shadow-fraction must be in (0, 1], got " + f);
        }
    }
}
