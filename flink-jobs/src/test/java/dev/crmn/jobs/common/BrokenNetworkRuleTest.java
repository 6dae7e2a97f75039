package dev.crmn.jobs.common;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class BrokenNetworkRuleTest {

    @Test
    void oneBadFrameIsADeadLetterButAWholeBatchOrThreeSingleFrameBatchesInARowFailTheTask() {
        assertThat(BatchFallback.networkIsBroken(1, true, 1)).as("one frame alone failed once").isFalse();
        assertThat(BatchFallback.networkIsBroken(1, true, 2)).isFalse();
        assertThat(BatchFallback.networkIsBroken(1, true, BatchFallback.MAX_FAILED_BATCHES))
                .as("the third single-frame batch in a row").isTrue();
        assertThat(BatchFallback.networkIsBroken(2, true, 1)).as("every frame of a batch of two").isTrue();
        assertThat(BatchFallback.networkIsBroken(64, false, 0)).as("some frames of a batch").isFalse();
        assertThat(BatchFallback.MAX_FAILED_BATCHES).isEqualTo(3);
    }
}
