package dev.crmn.jobs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BrokenNetworkRuleTest {

    @Test
    void oneBadFrameIsADeadLetterButAWholeBatchOrThreeSingleFrameBatchesInARowFailTheTask() {
        assertThat(MicroBatchInferenceOperator.networkIsBroken(1, true, 1)).as("one frame alone failed once").isFalse();
        assertThat(MicroBatchInferenceOperator.networkIsBroken(1, true, 2)).isFalse();
        assertThat(MicroBatchInferenceOperator.networkIsBroken(1, true, MicroBatchInferenceOperator.MAX_FAILED_BATCHES))
                .as("the third single-frame batch in a row").isTrue();
        assertThat(MicroBatchInferenceOperator.networkIsBroken(2, true, 1)).as("every frame of a batch of two").isTrue();
        assertThat(MicroBatchInferenceOperator.networkIsBroken(64, false, 0)).as("some frames of a batch").isFalse();
        assertThat(MicroBatchInferenceOperator.MAX_FAILED_BATCHES).isEqualTo(3);
    }
}
