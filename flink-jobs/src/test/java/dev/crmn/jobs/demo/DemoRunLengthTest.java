package dev.crmn.jobs.demo;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.jobs.demo.DemoCommand.RunLength;
import dev.crmn.jobs.finetune.RoundReport;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * How long {@code crmn demo} runs: a given {@code --duration} exactly; by default 180 s, and on a machine too slow for
 * the first fine-tuning round to be judged by then, until 45 s after it is, at most 600 s.
 */
class DemoRunLengthTest {

    private static final double NONE = Double.NaN;

    @Test
    void aGivenDurationIsKeptExactlyWhateverTheRounds() {
        RunLength d = RunLength.fixed(60);
        assertThat(d.over(59, NONE)).isFalse();
        assertThat(d.over(60, NONE)).as("no round judged, but the user said 60 s").isTrue();
        assertThat(d.waitingForARound(70, NONE)).isFalse();
        RunLength forever = RunLength.fixed(0);
        assertThat(forever.over(10_000, 5)).as("0: until Ctrl-C").isFalse();
        assertThatThrownBy(() -> RunLength.fixed(-1)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void byDefaultAMachineThatJudgedARoundInTimeStopsAtTheUsualLength() {
        RunLength d = RunLength.byDefault();
        assertThat(d.over(179, 95)).isFalse();
        assertThat(d.over(180, 95)).isTrue();
        assertThat(d.over(180, 150)).as("judged at 150 s: 45 s to serve its version").isFalse();
        assertThat(d.waitingForARound(180, 150)).as("not for want of a judged round").isFalse();
        assertThat(d.over(195, 150)).isTrue();
    }

    @Test
    void byDefaultASlowMachineGoesOnUntilTheFirstRoundIsJudgedAndServedAtMostTenMinutes() {
        RunLength d = RunLength.byDefault();
        assertThat(d.over(180, NONE)).isFalse();
        assertThat(d.waitingForARound(180, NONE)).isTrue();
        assertThat(d.waitingForARound(179, NONE)).isFalse();
        assertThat(d.over(260, 230)).isFalse();
        assertThat(d.over(275, 230)).isTrue();
        assertThat(d.over(599, NONE)).isFalse();
        assertThat(d.over(600, NONE)).as("the longest").isTrue();
    }

    @Test
    void theFirstJudgedRoundIsTheEarliestPromotedOrRefusedOneNotASkippedOne() {
        long start = 1_000_000;
        assertThat(DemoCommand.firstJudged(List.of(), start)).isNaN();
        assertThat(DemoCommand.firstJudged(List.of(round("skipped", start + 20_000)), start)).isNaN();
        assertThat(DemoCommand.firstJudged(List.of(round("skipped", start + 20_000), round("refused", start + 90_000),
                round("promoted", start + 140_000)), start)).isEqualTo(90.0);
    }

    private static RoundReport round(String decision, long at) {
        return new RoundReport(1, 1, "promoted".equals(decision) ? 2L : null, null, null, null, null, 100, 0, 0, 0,
                decision, "", "mcnemar-exact", null, null, null, 0, 0, at, null);
    }
}
