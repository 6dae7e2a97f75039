package dev.crmn.model.train;

import dev.crmn.model.graph.Graphs;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Future;
import org.deeplearning4j.nn.api.Model;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.optimize.api.BaseTrainingListener;
import org.deeplearning4j.optimize.api.TrainingListener;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.indexing.NDArrayIndex;

/**
 * Data-parallel training steps in one process: a step's batch is split into as many equal shards as there are
 * replicas; the network trains on the first shard while each other replica (a copy of the network, on a thread of
 * its own) computes the gradient of another shard at the same time, and the replicas' gradients are averaged into
 * the network's own before its optimiser applies them (a DL4J listener that runs between the gradient and the
 * update). So a step is one optimiser step on the whole batch, with one difference: each shard's batch norms
 * normalise by that shard's statistics (their running averages are averaged over the shards).
 *
 * <p>Why: one training step of these small networks scales poorly over OpenMP threads (two threads train
 * 1.3-1.6× as fast as one on the 2-core machines measured, sometimes slower), while two one-thread steps at a time
 * take nearly twice the images (docs/benchmarks.md). The replicas run on {@link ReplicaThreads}.
 *
 * <p>DL4J hands its optimiser a gradient that is the <em>sum</em> over the batch and divides by the batch size of
 * the network's input (the first shard) in the updater; batch-norm running statistics arrive as updates that it
 * does not divide. With equal shards the mean of the shards' arrays is right for both: the sum over the whole batch
 * divided by one shard's size, and the mean of the shards' statistics updates. A batch that does not split evenly
 * is trained by the network alone.
 *
 * <p>Not thread-safe: one thread drives it (the one that runs {@link FineTuning}). {@link #close()} frees the copies
 * (and closes the threads when it owns them).
 */
final class DataParallel implements AutoCloseable {

    private final ComputationGraph net;
    private final ComputationGraph teacher;
    private final ReplicaThreads threads;
    private final boolean ownThreads;
    private final List<Replica> replicas = new ArrayList<>();
    private final Join join = new Join();
    private final List<Future<Double>> pending = new ArrayList<>();
    private long joinedSteps;

    /**
     * @param net      the network the steps train (it keeps its optimiser state; the replicas only compute gradients)
     * @param teacher  the frozen network whose predictions the targets mix in, or null
     * @param threads  one thread per replica besides {@code net} (closed by the caller, or by {@link #close()} when
     *                 {@code ownThreads})
     * @param fastPath whether the replicas get the training fast path ({@link TrainingFastPath})
     */
    DataParallel(ComputationGraph net, ComputationGraph teacher, ReplicaThreads threads, boolean ownThreads,
                 boolean fastPath) {
        if (threads.size() < 1) {
            throw new IllegalArgumentException("data-parallel steps need a replica thread at least (closed threads?)");
        }
        this.net = net;
        this.teacher = teacher;
        this.threads = threads;
        this.ownThreads = ownThreads;
        try {
            for (int i = 0; i < threads.size(); i++) {
                replicas.add(replica(fastPath));
            }
        } catch (RuntimeException | Error e) {
            close();
            throw e;
        }
        net.addListeners(join);
    }

    private Replica replica(boolean fastPath) {
        ComputationGraph copy = Graphs.copy(net);
        try {
            if (fastPath) {
                TrainingFastPath.apply(copy);
            }
            copy.initGradientsView();
            return new Replica(copy, teacher == null ? null : Graphs.copy(teacher));
        } catch (RuntimeException | Error e) {
            Graphs.free(copy);
            throw e;
        }
    }

    /** How many networks share a step, the trained one included. */
    int replicas() {
        return replicas.size() + 1;
    }

    /** Steps whose batch was shared between the replicas (for tests: an uneven batch is trained by one network). */
    long sharedSteps() {
        return joinedSteps;
    }

    /**
     * One optimiser step of the network on images {@code x} towards targets {@code y} (mixed with the teacher's
     * predictions at {@code weight} when there is a teacher), the batch shared between the replicas.
     *
     * @return the step's loss (the mean of the shards')
     */
    double fit(INDArray x, INDArray y, double weight) {
        int n = replicas();
        long batch = x.size(0);
        if (batch % n != 0) {
            return TrainingStep.fitOne(net, teacher, weight, x, y);
        }
        long shard = batch / n;
        INDArray params = net.params();
        pending.clear();
        try {
            for (int i = 1; i < n; i++) {
                Replica r = replicas.get(i - 1);
                r.net().params().assign(params); // the weights (and batch-norm statistics) the step starts from
                INDArray xi = rows(x, i, shard);
                INDArray yi = rows(y, i, shard);
                pending.add(threads.worker(i - 1).submit(() -> r.gradient(xi, yi, weight)));
            }
            double loss;
            try (INDArray x0 = rows(x, 0, shard); INDArray y0 = rows(y, 0, shard)) {
                loss = TrainingStep.fitOne(net, teacher, weight, x0, y0); // Join adds the replicas' gradients
            }
            if (!pending.isEmpty()) {
                throw new IllegalStateException("the replicas' gradients were not joined (a DL4J listener was removed?)");
            }
            return loss;
        } finally {
            for (Future<Double> f : pending) { // the step failed before the join: let the replicas finish first
                try {
                    ReplicaThreads.await(f);
                } catch (RuntimeException ignored) {
                    // the step's own failure is the one to report
                }
            }
            pending.clear();
        }
    }

    private static INDArray rows(INDArray a, int i, long shard) {
        return a.get(NDArrayIndex.interval(i * shard, (i + 1) * shard), NDArrayIndex.all()).dup();
    }

    /** Runs between the network's gradient and its update: adds the replicas' gradients and takes the mean. */
    private final class Join extends BaseTrainingListener {
        @Override
        public void onGradientCalculation(Model model) {
            if (model != net || pending.isEmpty()) {
                return;
            }
            INDArray g = net.getGradientsViewArray();
            double loss = net.score();
            for (int i = 0; i < pending.size(); i++) {
                loss += ReplicaThreads.await(pending.get(i));
                g.addi(replicas.get(i).net().getGradientsViewArray());
            }
            pending.clear();
            g.divi(replicas());
            net.setScore(loss / replicas());
            joinedSteps++;
        }
    }

    @Override
    public void close() {
        List<TrainingListener> kept = new ArrayList<>(net.getListeners());
        if (kept.remove(join)) {
            net.setListeners(kept); // the network may live on as a candidate
        }
        for (Replica r : replicas) {
            free(r.net());
            free(r.teacher());
        }
        replicas.clear();
        if (ownThreads) {
            threads.close();
        }
    }

    private static void free(ComputationGraph g) {
        if (g != null) {
            Graphs.free(g);
        }
    }

    /** A copy of the network (and of the teacher) whose gradients a replica thread computes. */
    private record Replica(ComputationGraph net, ComputationGraph teacher) {

        /** The gradient of the loss on {@code x} towards {@code y} in {@link #net}'s gradient array; the loss. */
        double gradient(INDArray x, INDArray y, double weight) {
            try (x; y) {
                TrainingStep.mixTeacher(teacher, weight, x, y);
                net.setInputs(x);
                net.setLabels(y);
                net.computeGradientAndScore();
                double loss = net.score();
                net.clearLayersStates();
                return loss;
            }
        }
    }
}
