package dev.crmn.jobs.cli;

import dev.crmn.connectors.kafka.CrmnKafka;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.InstanceLock;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import dev.crmn.model.infer.ClassifierOptions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * {@code crmn infer}: the inference job on a local Flink MiniCluster in this JVM, against any Kafka broker,
 * until {@code --duration} elapses or Ctrl-C. The job's own options ({@code --help}) are those of
 * {@link InferenceJob}.
 */
@Command(name = "infer", description = "Run the inference job (Kafka frames -> micro-batched CRMN -> Kafka predictions,"
        + " exactly once, with hot-swap) on a local Flink MiniCluster. --help lists its options.")
public final class InferCommand implements Callable<Integer> {

    @Option(names = "--duration", defaultValue = "0", description = "Stop after this many seconds (0 = until Ctrl-C).")
    double duration;

    @Option(names = "--fresh", description = "Start from the offsets committed to Kafka, not from the savepoint the"
            + " last stop left in <checkpoint-dir>/savepoints/<group-id>.")
    boolean fresh;

    @Unmatched
    List<String> jobArgs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        LocalJob.checkDuration(duration);
        JobArgs.Parsed parsed = JobArgs.parse(jobArgs.toArray(new String[0]), InferenceOptions.ALL);
        if (parsed.help()) {
            System.out.println(JobArgs.help(InferenceJob.USAGE + "\n\n  --duration SECONDS\n      Stop after this"
                    + " long (crmn infer only; default: until Ctrl-C).\n  --fresh\n      Start from the offsets committed to"
                    + " Kafka, not from the savepoint the last stop left (crmn infer only).", InferenceOptions.ALL));
            return 0;
        }
        // the local job runs here: cuda needs its libraries and a device here, said before anything starts
        ClassifierOptions.of(parsed.config().get(InferenceOptions.ENGINE), 0);
        InferenceJob.Plan plan = InferenceJob.plan(Checkpointing.withLocalDefault(parsed.config()), parsed.kafka());
        try (AutoCloseable lock = InstanceLock.acquireHere(plan.kafka(), plan.config().get(InferenceOptions.GROUP_ID),
                plan.config().get(InferenceOptions.MODEL_UPDATES_TOPIC), "inference job");
             LocalJob job = LocalJob.startForRunner("infer", plan.parallelism(), env -> InferenceJob.build(env, plan),
                plan.jobName(), Checkpointing.localSavepoints(plan.config(), plan.config().get(InferenceOptions.GROUP_ID)), fresh,
                new LocalJob.SavepointOwner(CrmnKafka.clusterId(plan.kafka()), plan.kafka().bootstrapServers(),
                        plan.model().name()))) {
            System.err.printf("infer: %s from %s; frames %s -> predictions %s, dead letters %s; model-updates %s;"
                            + " %d subtask(s), batch %d, max delay %d ms, checkpoints every %d ms; store %s%n",
                    plan.model().displayName(), plan.model().uri(),
                    plan.config().get(InferenceOptions.FRAMES_TOPIC), plan.config().get(InferenceOptions.PREDICTIONS_TOPIC),
                    plan.config().get(InferenceOptions.DEAD_LETTERS_TOPIC),
                    plan.config().get(InferenceOptions.MODEL_UPDATES_TOPIC), plan.parallelism(), plan.batchSize(),
                    plan.config().get(InferenceOptions.MAX_DELAY_MS),
                    plan.config().get(InferenceOptions.CHECKPOINT_INTERVAL_MS), plan.store());
            job.awaitEnd(duration);
        }
        return 0;
    }
}
