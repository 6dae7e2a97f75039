package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.jobs.testutil.StateFixtures;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.util.List;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.api.common.typeinfo.Types;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The trainer restores the state of every earlier layout (docs/operations.md, "Upgrading"). */
class TrainerStateFixtureTest {

    /** Release 0.1's state: examples, the base ref and pending versions with Flink's generic serializers. */
    static final String LAYOUT_1 = "trainer-layout-1-generic.snapshot";
    /** Explicit, versioned serializers (format 1 of each). */
    static final String LAYOUT_2 = "trainer-layout-2-versioned.snapshot";
    /** And the announced version not adopted yet ({@code adoption}). */
    static final String LAYOUT_3 = "trainer-layout-3-adoption.snapshot";

    /** And the holdout with the rounds each image decided ({@code holdout-rotating}). */
    static final String LAYOUT_4 = "trainer-layout-4-rotating-holdout.snapshot";

    static ModelRef announced() {
        return new ModelRef(1, "crmn-demo", 5, "file:/data/models/crmn-demo/v5",
                "5e5e5e5e4b1d5c3a8e6f7b2d1c0a9e8f7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a", null, 3L, null, 1_764_979_320_000L);
    }

    static RoundSettings settings() {
        return new RoundSettings("crmn-demo", "file:/data/models", null, "target/model-cache", 100, 60_000, 10, 16, 0.01, 0.998,
                10, 100, 10, 200, 1, "frames-labelled", null, new PromotionGate(0.05, 0.5, 100), 3, null);
    }

    static List<Example> examples(int from, int n) {
        return java.util.stream.IntStream.range(from, from + n)
                .mapToObj(i -> new Example(StateFixtures.pixels(i), i % 10, i % 3, 1000L + i)).toList();
    }

    static ModelRef base() {
        return StateFixtures.served();
    }

    static PendingVersion pending() {
        return new PendingVersion(4, "{\"name\":\"crmn-demo\",\"version\":4}".getBytes(StandardCharsets.UTF_8),
                new byte[] {'P', 'K', 3, 4, 0, 0, 7});
    }

    static final List<Long> COUNTERS = List.of(57L, 9L, 4L, 6L); // reservoir seen, holdout seen, last version, rounds

    @ParameterizedTest
    @ValueSource(strings = {LAYOUT_1, LAYOUT_2, LAYOUT_3, LAYOUT_4})
    void everyEarlierLayoutRestoresTheReservoirHoldoutNewFramesCountersBaseAndPendingVersions(String fixture)
            throws Exception {
        AbstractStreamOperatorTestHarness<ModelRef> h = new AbstractStreamOperatorTestHarness<>(
                new TrainerOperatorFactory(settings()), 1, 1, 0);
        h.setup();
        h.initializeState(StateFixtures.read(fixture));
        TrainerOperator.Restored r = ((TrainerOperator) h.getOperator()).restored(); // open() would load the model
        assertSame(r.reservoir(), examples(0, 5));
        assertSame(r.holdout(), examples(100, 2));
        assertThat(r.holdoutUses()).as("rounds each holdout image decided (earlier layouts: none counted)")
                .isEqualTo(fixture.equals(LAYOUT_4) ? List.of(4, 0) : List.of(0, 0));
        assertSame(r.newFrames(), examples(200, 3));
        assertThat(List.of(r.reservoirSeen(), r.holdoutSeen(), r.lastVersion(), r.rounds())).isEqualTo(COUNTERS);
        assertThat(r.base()).isEqualTo(base());
        assertThat(r.pending()).hasSize(1);
        PendingVersion p = r.pending().get(0);
        assertThat(p.version()).isEqualTo(pending().version());
        assertThat(p.manifestJson()).isEqualTo(pending().manifestJson());
        assertThat(p.zip()).isEqualTo(pending().zip());
        assertThat(r.adoption()).as("the announced version not adopted yet")
                .isEqualTo(fixture.equals(LAYOUT_3) || fixture.equals(LAYOUT_4) ? announced() : null);
    }

    static void assertSame(List<Example> actual, List<Example> expected) {
        assertThat(actual).hasSameSizeAs(expected);
        for (int i = 0; i < expected.size(); i++) {
            Example a = actual.get(i);
            Example e = expected.get(i);
            assertThat(a.pixels()).isEqualTo(e.pixels());
            assertThat(List.of(a.label(), a.partition(), a.offset())).isEqualTo(List.of(e.label(), e.partition(), e.offset()));
        }
    }

    /** Writes the fixtures that are missing: {@code mvn test -Dcrmn.write-state-fixtures=true -Dtest=...}. */
    @Test
    @EnabledIfSystemProperty(named = "crmn.write-state-fixtures", matches = "true", disabledReason = "a tool, not a"
            + " test: writes the fixtures that are missing when run with -Dcrmn.write-state-fixtures=true (docs/operations.md)")
    void writeMissingFixtures() throws Exception {
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_1))) {
            TypeInformation<Example> ex = TypeInformation.of(Example.class);
            StateFixtures.write(LAYOUT_1, List.of(
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("reservoir", ex), false, examples(0, 5)),
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("holdout", ex), false, examples(100, 2)),
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("new-frames", ex), false, examples(200, 3)),
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("counters", Types.LONG), false, COUNTERS),
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("base-model", TypeInformation.of(ModelRef.class)),
                            false, List.of(base())),
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("pending-versions",
                            TypeInformation.of(PendingVersion.class)), false, List.of(pending()))));
        }
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_2))) {
            StateFixtures.write(LAYOUT_2, versioned(holdoutAsExamples(), null));
        }
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_3))) {
            StateFixtures.write(LAYOUT_3, versioned(holdoutAsExamples(), announced()));
        }
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_4))) {
            List<Example> held = examples(100, 2);
            StateFixtures.write(LAYOUT_4, versioned(new StateFixtures.Entry<>(TrainerOperator.rotatingHoldout(), false,
                    List.of(new Holdout.Held(held.get(0), 4), new Holdout.Held(held.get(1), 0))), announced()));
        }
    }

    /** Layout 2's and 3's holdout: examples only. */
    private static StateFixtures.Entry<Example> holdoutAsExamples() {
        return new StateFixtures.Entry<>(TrainerOperator.examples(TrainerOperator.HOLDOUT_STATE), false, examples(100, 2));
    }

    /** The state of the layouts with explicit serializers: {@code holdout} as given, {@code adoption} if not null. */
    private static List<StateFixtures.Entry<?>> versioned(StateFixtures.Entry<?> holdout, ModelRef adoption) {
        List<StateFixtures.Entry<?>> e = new java.util.ArrayList<>(List.of(
                new StateFixtures.Entry<>(TrainerOperator.examples(TrainerOperator.RESERVOIR_STATE), false, examples(0, 5)),
                holdout,
                new StateFixtures.Entry<>(TrainerOperator.examples(TrainerOperator.NEW_FRAMES_STATE), false, examples(200, 3)),
                new StateFixtures.Entry<>(TrainerOperator.counters(), false, COUNTERS),
                new StateFixtures.Entry<>(TrainerOperator.baseModel(), false, List.of(base())),
                new StateFixtures.Entry<>(TrainerOperator.pendingVersions(), false, List.of(pending()))));
        if (adoption != null) {
            e.add(new StateFixtures.Entry<>(TrainerOperator.adoption(), false, List.of(adoption)));
        }
        return e;
    }
}
