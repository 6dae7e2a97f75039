package dev.crmn.jobs.quality;

import static org.assertj.core.api.Assertions.assertThat;

import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.api.operators.KeyedProcessOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.KeyedOneInputStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;

/** A shadow's labelled outcome meets the serving version's of the same frame once; what has no pair expires. */
class ShadowPairingTest {

    @Test
    void labelledOutcomesOfTheSameFramePairOnceAndTheRestPassThrough() throws Exception {
        try (var h = new KeyedOneInputStreamOperatorTestHarness<>(new KeyedProcessOperator<>(new ShadowPairing(1000)),
                Scored::frameId, Types.STRING)) {
            h.open();
            h.setProcessingTime(0);
            Scored serving = Scored.serving("m", 1, "a", true, true, 0, "f");
            Scored unlabelled = Scored.shadow("m", 2, "b", true, null, 0, "f");
            Scored shadow = Scored.shadow("m", 2, "b", false, false, 0, "f");
            h.processElement(new StreamRecord<>(serving));
            h.processElement(new StreamRecord<>(unlabelled));
            h.processElement(new StreamRecord<>(shadow));
            assertThat(h.extractOutputValues()).containsExactly(serving, unlabelled, shadow, Scored.pair(shadow, serving));
            assertThat(Scored.pair(shadow, serving).servingCorrect()).isTrue();
            assertThat(h.numKeyedStateEntries()).isZero();

            Scored alone = Scored.serving("m", 1, "a", true, false, 0, "g"); // no shadow runs
            h.processElement(new StreamRecord<>(alone));
            assertThat(h.numKeyedStateEntries()).isEqualTo(1);
            h.setProcessingTime(1000);
            assertThat(h.numKeyedStateEntries()).as("expired after the window").isZero();
        }
    }
}
