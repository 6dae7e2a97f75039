package dev.crmn.jobs.testutil;

import dev.crmn.connectors.format.ModelRef;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.runtime.checkpoint.OperatorSubtaskState;
import org.apache.flink.runtime.state.StateInitializationContext;
import org.apache.flink.streaming.api.operators.AbstractStreamOperator;
import org.apache.flink.streaming.api.operators.OneInputStreamOperator;
import org.apache.flink.streaming.runtime.streamrecord.StreamRecord;
import org.apache.flink.streaming.util.AbstractStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OneInputStreamOperatorTestHarness;
import org.apache.flink.streaming.util.OperatorSnapshotUtil;

/**
 * Savepoint fixtures of the jobs' operator state: the state one subtask of an operator snapshots, written with
 * Flink's {@link OperatorSnapshotUtil} (the same handles a savepoint holds) and kept in
 * {@code src/test/resources/state-fixtures/}. A release restores every fixture ever committed there; one that cannot
 * fails CI (docs/operations.md, "Upgrading").
 */
public final class StateFixtures {

    /** Where the fixtures live (tests run in the module's directory). */
    public static final Path DIR = Path.of("src", "test", "resources", "state-fixtures");

    private StateFixtures() {
    }

    /** The state written to a fixture: values under a descriptor, as union or split list state. */
    public record Entry<T>(ListStateDescriptor<T> descriptor, boolean union, List<T> values) {
    }

    /** Writes {@code entries} as one operator subtask's snapshot to {@code DIR/name}. */
    public static void write(String name, List<Entry<?>> entries) throws Exception {
        Files.createDirectories(DIR);
        try (OneInputStreamOperatorTestHarness<Object, Object> h = new OneInputStreamOperatorTestHarness<>(new Writer(entries))) {
            h.setup();
            h.open();
            OperatorSubtaskState s = h.snapshot(1, 1);
            OperatorSnapshotUtil.writeStateHandle(s, DIR.resolve(name).toString());
        }
    }

    /** The snapshot in fixture {@code name}. */
    public static OperatorSubtaskState read(String name) throws Exception {
        Path p = DIR.resolve(name);
        if (!Files.isRegularFile(p)) {
            throw new IllegalStateException("no state fixture " + p.toAbsolutePath());
        }
        return OperatorSnapshotUtil.readStateHandle(p.toString());
    }

    /** The fixture's state as subtask {@code index} of {@code parallelism} gets it after a rescale from 1. */
    public static OperatorSubtaskState rescaled(OperatorSubtaskState s, int parallelism, int index) {
        return AbstractStreamOperatorTestHarness.repartitionOperatorState(s, 128, 1, parallelism, index);
    }

    /** The served model ref every fixture holds. */
    public static ModelRef served() {
        return new ModelRef(1, "crmn-demo", 3, "file:/data/models/crmn-demo/v3",
                "9f2c7a0e4b1d5c3a8e6f7b2d1c0a9e8f7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a", Map.of("holdout_accuracy", 0.8125),
                2L, "1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b", 1_764_979_200_000L);
    }

    /** The loading model ref every fixture holds. */
    public static ModelRef loading() {
        return new ModelRef(1, "crmn-demo", 4, "file:/data/models/crmn-demo/v4",
                "0a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6e7f8a9b0c1d2e3f4a5b6c7d8e9f0a1b", null, 3L, null, 1_764_979_260_000L);
    }

    /** The shadow model ref of the layouts that have one. */
    public static ModelRef shadow() {
        return new ModelRef(1, "crmn-demo", 5, "file:/data/models/crmn-demo/v5",
                "5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a", null, 4L, null, 1_764_979_320_000L);
    }

    /** A deterministic 32x32x3 image. */
    public static byte[] pixels(int seed) {
        byte[] b = new byte[32 * 32 * 3];
        for (int i = 0; i < b.length; i++) {
            b[i] = (byte) (i * 31 + seed * 7);
        }
        return b;
    }

    /** Writes the given values into the given states; snapshots them as they are. */
    static final class Writer extends AbstractStreamOperator<Object> implements OneInputStreamOperator<Object, Object> {

        private final transient List<Entry<?>> entries;

        Writer(List<Entry<?>> entries) {
            this.entries = new ArrayList<>(entries);
        }

        @Override
        public void initializeState(StateInitializationContext context) throws Exception {
            super.initializeState(context);
            for (Entry<?> e : entries) {
                put(context, e);
            }
        }

        private static <T> void put(StateInitializationContext context, Entry<T> e) throws Exception {
            ListState<T> s = e.union() ? context.getOperatorStateStore().getUnionListState(e.descriptor())
                    : context.getOperatorStateStore().getListState(e.descriptor());
            s.update(e.values());
        }

        @Override
        public void processElement(StreamRecord<Object> element) {
        }
    }
}
