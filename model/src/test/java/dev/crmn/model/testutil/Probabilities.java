package dev.crmn.model.testutil;

import static org.assertj.core.api.Assertions.assertThat;

/** Comparing the probabilities two engines give for the same images. */
public final class Probabilities {

    private Probabilities() {
    }

    /** Same rows, and no probability differs by 1e-4 or more. */
    public static void assertClose(float[][] actual, float[][] expected) {
        assertThat(actual.length).isEqualTo(expected.length);
        double max = 0;
        for (int i = 0; i < actual.length; i++) {
            for (int k = 0; k < actual[i].length; k++) {
                max = Math.max(max, Math.abs(actual[i][k] - expected[i][k]));
            }
        }
        assertThat(max).as("largest difference of a probability").isLessThan(1e-4);
    }
}
