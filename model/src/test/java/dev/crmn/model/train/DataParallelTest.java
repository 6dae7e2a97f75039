package dev.crmn.model.train;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import dev.crmn.model.graph.Graphs;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * What a data-parallel step computes: the optimiser step of the whole batch, whichever shard the trained network
 * itself computed, the replicas' share counted (batch norms aside, which normalise each shard by its own statistics).
 */
class DataParallelTest {

    private static final CrmnConfig TINY = Presets.get("crmn-tiny");
    private final List<AutoCloseable> open = new ArrayList<>();

    @AfterEach
    void free() throws Exception {
        for (AutoCloseable c : open) {
            c.close();
        }
    }

    /** A training network of the tiny preset (seeded: every call the same weights), on the training fast path. */
    private ComputationGraph network() {
        ComputationGraph net = CrmnGraphBuilder.network(TINY, GraphOptions.training().withLayout(CNN2DFormat.NHWC));
        TrainingFastPath.apply(net);
        open.add(() -> Graphs.free(net));
        return net;
    }

    private DataParallel parallel(ComputationGraph net, int replicas) {
        DataParallel p = new DataParallel(net, null, ReplicaThreads.start(replicas - 1), true, true);
        open.add(p);
        return p;
    }

    private static INDArray images(long n, long seed) {
        Nd4j.getRandom().setSeed(seed);
        return Nd4j.rand(DataType.FLOAT, n, TINY.height(), TINY.width(), TINY.channels()).subi(0.5);
    }

    private static INDArray labels(long n, int offset) {
        INDArray y = Nd4j.zeros(DataType.FLOAT, n, TINY.classes());
        for (int i = 0; i < n; i++) {
            y.putScalar(i, (i + offset) % TINY.classes(), 1f);
        }
        return y;
    }

    private static double maxDifference(INDArray a, INDArray b) {
        return a.sub(b).amaxNumber().doubleValue();
    }

    @Test
    void twoEqualShardsMakeTheStepOfOneNetworkOnOneOfThem() {
        ComputationGraph shared = network();
        ComputationGraph alone = network();
        assertThat(shared.params()).isEqualTo(alone.params());
        DataParallel p = parallel(shared, 2);
        INDArray x = images(8, 1);
        INDArray y = labels(8, 0);
        for (int step = 0; step < 3; step++) { // the optimiser's momentum carries the average on too
            double lossShared = p.fit(Nd4j.concat(0, x, x), Nd4j.concat(0, y, y), 0);
            double lossAlone = TrainingStep.fitOne(alone, null, 0, x.dup(), y.dup());
            assertThat(lossShared).isCloseTo(lossAlone, org.assertj.core.data.Offset.offset(1e-5));
        }
        assertThat(p.sharedSteps()).isEqualTo(3);
        assertThat(maxDifference(shared.params(), alone.params())).as("weights and batch-norm statistics").isLessThan(1e-5);
        assertThat(maxDifference(shared.getUpdater().getStateViewArray(), alone.getUpdater().getStateViewArray()))
                .as("momentum").isLessThan(1e-5);
        assertThat(shared.getIterationCount()).isEqualTo(alone.getIterationCount());
    }

    @Test
    void theStepIsTheSameWhicheverShardTheNetworkComputesAndCountsTheOther() {
        ComputationGraph ab = network();
        ComputationGraph ba = network();
        ComputationGraph aOnly = network();
        INDArray a = images(8, 2);
        INDArray b = images(8, 3);
        INDArray ya = labels(8, 0);
        INDArray yb = labels(8, 5);
        double lossAb = parallel(ab, 2).fit(Nd4j.concat(0, a, b), Nd4j.concat(0, ya, yb), 0);
        double lossBa = parallel(ba, 2).fit(Nd4j.concat(0, b, a), Nd4j.concat(0, yb, ya), 0);
        double lossA = TrainingStep.fitOne(aOnly, null, 0, a.dup(), ya.dup());
        assertThat(lossAb).isCloseTo(lossBa, org.assertj.core.data.Offset.offset(1e-5));
        assertThat(maxDifference(ab.params(), ba.params())).isLessThan(1e-5);
        assertThat(maxDifference(ab.params(), aOnly.params())).as("the replica's shard moved the weights too")
                .isGreaterThan(1e-4);
        assertThat(Math.abs(lossAb - lossA)).as("the loss is both shards'").isGreaterThan(1e-4);
    }

    @Test
    void aBatchThatDoesNotSplitEvenlyIsTrainedByTheNetworkAlone() {
        ComputationGraph shared = network();
        ComputationGraph alone = network();
        DataParallel p = parallel(shared, 2);
        INDArray x = images(9, 4);
        INDArray y = labels(9, 0);
        double l1 = p.fit(x.dup(), y.dup(), 0);
        double l2 = TrainingStep.fitOne(alone, null, 0, x.dup(), y.dup());
        assertThat(p.sharedSteps()).isZero();
        assertThat(l1).isCloseTo(l2, org.assertj.core.data.Offset.offset(1e-6));
        assertThat(maxDifference(shared.params(), alone.params())).isLessThan(1e-6);
    }

    @Test
    void closingStopsTheThreadsItOwnsAndLeavesTheNetworkWithoutItsListener() throws Exception {
        ComputationGraph net = network();
        int listeners = net.getListeners().size();
        DataParallel p = new DataParallel(net, null, ReplicaThreads.start(2), true, true);
        p.fit(images(6, 5), labels(6, 0), 0);
        List<Thread> threads = replicaThreads();
        assertThat(threads).extracting(Thread::getName).contains("crmn-train-replica-1", "crmn-train-replica-2");
        p.close();
        for (Thread t : threads) {
            t.join(10_000);
            assertThat(t.isAlive()).as(t.getName()).isFalse();
        }
        assertThat(net.getListeners()).hasSize(listeners);
        assertThatThrownBy(() -> ReplicaThreads.start(0)).isInstanceOf(IllegalArgumentException.class);
    }

    @Test
    void threadsPassedInServeOneRunAfterAnotherAndCloseOnlyWhenTheirOwnerClosesThem() throws Exception {
        List<Thread> before = replicaThreads();
        ReplicaThreads threads = ReplicaThreads.start(1);
        List<Thread> started = replicaThreads().stream().filter(t -> !before.contains(t)).toList();
        assertThat(started).hasSize(1);
        for (int run = 0; run < 2; run++) {
            try (DataParallel p = new DataParallel(network(), null, threads, false, true)) {
                p.fit(images(8, 6 + run), labels(8, run), 0);
                assertThat(p.sharedSteps()).isEqualTo(1);
            }
            assertThat(started.get(0).isAlive()).as("the same thread, still there after the run").isTrue();
        }
        threads.close();
        for (Thread t : started) {
            t.join(10_000);
            assertThat(t.isAlive()).isFalse();
        }
        assertThatThrownBy(() -> new DataParallel(network(), null, threads, false, true))
                .isInstanceOf(IllegalArgumentException.class).hasMessageContaining("closed");
    }

    private static List<Thread> replicaThreads() {
        return Thread.getAllStackTraces().keySet().stream().filter(Thread::isAlive)
                .filter(t -> t.getName().startsWith("crmn-train-replica-")).toList();
    }
}
