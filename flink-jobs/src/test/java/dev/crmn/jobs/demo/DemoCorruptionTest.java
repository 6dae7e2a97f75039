package dev.crmn.jobs.demo;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.model.data.Corruption;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.testutil.TestData;
import java.util.List;
import org.junit.jupiter.api.Test;

class DemoCorruptionTest {

    @Test
    void aDriftedDemoStreamsEveryImageCorruptedAsProduceWouldWithItsLabel() throws Exception {
        ImageSet set = ImageSet.load(List.of(TestData.testBatch()), 20);
        Corruption c = Corruption.parse("tint:4");
        dev.crmn.model.cli.CorruptionOptions drift = new dev.crmn.model.cli.CorruptionOptions();
        new picocli.CommandLine(drift).parseArgs("--corrupt", "tint:4", "--seed", "9");
        ImageSet drifted = drift.apply(set);
        assertThat(drifted.size()).isEqualTo(20);
        for (int i = 0; i < 20; i++) {
            assertThat(drifted.label(i)).isEqualTo(set.label(i));
            assertThat(drifted.image(i).pixels()).isEqualTo(c.apply(set.image(i), i, 9).pixels())
                    .isNotEqualTo(set.image(i).pixels());
        }
        assertThat(new dev.crmn.model.cli.CorruptionOptions().apply(set)).as("no --corrupt: the data as it is").isSameAs(set);
    }
}
