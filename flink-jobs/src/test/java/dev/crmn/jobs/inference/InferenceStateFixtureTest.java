package dev.crmn.jobs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.jobs.testutil.StateFixtures;
import java.nio.file.Files;
import java.util.List;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.api.common.typeinfo.TypeInformation;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * The inference operator restores the state of every earlier layout (docs/operations.md, "Upgrading"): the
 * fixtures are one subtask's snapshot, written once and committed; a change that cannot read one fails here.
 */
class InferenceStateFixtureTest {

    /** Release 0.1's state (until December 2026): union list state of ModelRef with Flink's generic serializers. */
    static final String LAYOUT_1 = "inference-layout-1-generic.snapshot";
    /** Explicit, versioned serializers ({@link dev.crmn.jobs.common.state.ModelRefSerializer} format 1). */
    static final String LAYOUT_2 = "inference-layout-2-versioned.snapshot";
    /** Layout 2 and the shadow version scored ({@code shadow-model-union}). */
    static final String LAYOUT_3 = "inference-layout-3-shadow.snapshot";

    static InferenceSettings settings() {
        return new InferenceSettings(StateFixtures.served(), null, 8, 10, 1, 1, null, "target/model-cache", "cpu", null, true, 1.0);
    }

    static MicroBatchInferenceOperator restore(OperatorSubtaskState state, int parallelism, int index) throws Exception {
        AbstractStreamOperatorTestHarness<Prediction> h = new AbstractStreamOperatorTestHarness<>(
                new MicroBatchInferenceOperatorFactory(settings()), 128, parallelism, index);
        h.setup();
        h.initializeState(state);
        return (MicroBatchInferenceOperator) h.getOperator(); // initialized only: open() would load the model
    }

    /** The shadow a layout holds: none before layout 3. */
    static ModelRef shadowOf(String fixture) {
        return fixture.equals(LAYOUT_3) ? StateFixtures.shadow() : null;
    }

    @ParameterizedTest
    @ValueSource(strings = {LAYOUT_1, LAYOUT_2, LAYOUT_3})
    void everyEarlierLayoutRestoresTheServedAndTheLoadingVersion(String fixture) throws Exception {
        MicroBatchInferenceOperator op = restore(StateFixtures.read(fixture), 1, 0);
        assertThat(op.restoredActive()).isEqualTo(StateFixtures.served());
        assertThat(op.restoredLoading()).isEqualTo(StateFixtures.loading());
        assertThat(op.restoredShadow()).isEqualTo(shadowOf(fixture));
    }

    @ParameterizedTest
    @ValueSource(strings = {LAYOUT_1, LAYOUT_2, LAYOUT_3})
    void afterARescaleFromOneToThreeEverySubtaskRestoresTheServedVersion(String fixture) throws Exception {
        OperatorSubtaskState s = StateFixtures.read(fixture);
        for (int i = 0; i < 3; i++) {
            MicroBatchInferenceOperator op = restore(StateFixtures.rescaled(s, 3, i), 3, i);
            assertThat(op.restoredActive()).as("subtask %d of 3", i).isEqualTo(StateFixtures.served());
            assertThat(op.restoredLoading()).as("subtask %d of 3", i).isEqualTo(StateFixtures.loading());
            assertThat(op.restoredShadow()).as("subtask %d of 3", i).isEqualTo(shadowOf(fixture));
        }
    }

    /** Writes the fixtures that are missing: {@code mvn test -Dcrmn.write-state-fixtures=true -Dtest=...}. */
    @Test
    @EnabledIfSystemProperty(named = "crmn.write-state-fixtures", matches = "true", disabledReason = "a tool, not a"
            + " test: writes the fixtures that are missing when run with -Dcrmn.write-state-fixtures=true (docs/operations.md)")
    void writeMissingFixtures() throws Exception {
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_1))) {
            TypeInformation<ModelRef> generic = TypeInformation.of(ModelRef.class);
            StateFixtures.write(LAYOUT_1, List.of(
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("active-model-union", generic), true,
                            List.of(StateFixtures.served())),
                    new StateFixtures.Entry<>(new ListStateDescriptor<>("loading-model-union", generic), true,
                            List.of(StateFixtures.loading()))));
        }
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_2))) {
            StateFixtures.write(LAYOUT_2, List.of(
                    new StateFixtures.Entry<>(MicroBatchInferenceOperator.state(MicroBatchInferenceOperator.ACTIVE_STATE),
                            true, List.of(StateFixtures.served())),
                    new StateFixtures.Entry<>(MicroBatchInferenceOperator.state(MicroBatchInferenceOperator.LOADING_STATE),
                            true, List.of(StateFixtures.loading()))));
        }
        if (!Files.exists(StateFixtures.DIR.resolve(LAYOUT_3))) {
            StateFixtures.write(LAYOUT_3, List.of(
                    new StateFixtures.Entry<>(MicroBatchInferenceOperator.state(MicroBatchInferenceOperator.ACTIVE_STATE),
                            true, List.of(StateFixtures.served())),
                    new StateFixtures.Entry<>(MicroBatchInferenceOperator.state(MicroBatchInferenceOperator.LOADING_STATE),
                            true, List.of(StateFixtures.loading())),
                    new StateFixtures.Entry<>(MicroBatchInferenceOperator.state(MicroBatchInferenceOperator.SHADOW_STATE),
                            true, List.of(StateFixtures.shadow()))));
        }
    }
}
