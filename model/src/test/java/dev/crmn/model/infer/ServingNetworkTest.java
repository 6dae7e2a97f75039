package dev.crmn.model.infer;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class ServingNetworkTest {

    @Test
    void batchesArePaddedToFewSizes() {
        long[][] cases = {{1, 1}, {2, 2}, {3, 4}, {5, 8}, {8, 8}, {9, 16}, {16, 16}, {17, 24}, {57, 64}, {64, 64},
                {65, 72}, {256, 256}};
        for (long[] c : cases) {
            assertThat(ServingNetwork.bucket(c[0])).as("bucket(%d)", c[0]).isEqualTo(c[1]);
        }
        assertThat(java.util.stream.LongStream.rangeClosed(1, 64).map(ServingNetwork::bucket).distinct().count())
                .isEqualTo(11);
    }
}
