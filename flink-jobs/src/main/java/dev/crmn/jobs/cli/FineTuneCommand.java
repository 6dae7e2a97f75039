package dev.crmn.jobs.cli;

import dev.crmn.jobs.local.LocalJob;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.finetune.FineTuneJob;
import dev.crmn.jobs.finetune.FineTuneOptions;
import dev.crmn.jobs.finetune.FineTuneRounds;
import dev.crmn.jobs.finetune.RoundReport;
import dev.crmn.model.cli.CliSupport;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * {@code crmn finetune}: the fine-tuning job on a local Flink MiniCluster, until {@code --duration} elapses or
 * Ctrl-C; with {@code --json}, one document of its rounds at the end.
 */
@Command(name = "finetune", description = "Run the fine-tuning job (labelled Kafka frames -> gated fine-tuning rounds ->"
        + " promoted versions published and announced) on a local Flink MiniCluster. --help lists its options.")
public final class FineTuneCommand implements Callable<Integer> {

    @Option(names = "--duration", defaultValue = "0", description = "Stop after this many seconds (0 = until Ctrl-C).")
    double duration;

    @Option(names = "--json", description = "At the end, print one JSON document of the rounds.")
    boolean json;

    @Option(names = "--fresh", description = "Start from the offsets committed to Kafka, not from the savepoint the"
            + " last stop left in <checkpoint-dir>/savepoints/<group-id>.")
    boolean fresh;

    @Unmatched
    List<String> jobArgs = new ArrayList<>();

    /** What keeps a round from forgetting, as the start line says it: the anchor, its check, distillation. */
    private static String againstForgetting(dev.crmn.jobs.finetune.RoundSettings r) {
        dev.crmn.jobs.finetune.Anchor a = r.anchor();
        String anchor;
        if (a == null) {
            anchor = "no anchor (--anchor: clean images against forgetting under drift)";
        } else {
            String check = a.checkImages() == 0 ? "no forgetting check" : "refused when more than " + a.maxForgetting()
                    + " points below the start on " + a.checkImages() + " held-out anchor images, at most";
            anchor = "anchored on " + String.join(",", a.paths()) + " (" + Math.round(a.share() * 100) + " % of each round; "
                    + check + ")";
        }
        return anchor + (r.distillation() > 0 ? "; distillation " + r.distillation() : "");
    }

    @Override
    public Integer call() throws Exception {
        LocalJob.checkDuration(duration);
        JobArgs.Parsed parsed = JobArgs.parse(jobArgs.toArray(new String[0]), FineTuneOptions.ALL);
        if (parsed.help()) {
            System.out.println(JobArgs.help(FineTuneJob.USAGE + "\n\n  --duration SECONDS\n      Stop after this long"
                    + " (crmn finetune only; default: until Ctrl-C).\n  --fresh\n      Start from the offsets committed to"
                    + " Kafka, not from the savepoint the last stop left (crmn finetune only).\n  --json\n      At the end, one JSON document of"
                    + " the rounds (crmn finetune only).", FineTuneOptions.ALL));
            return 0;
        }
        FineTuneJob.Plan plan = FineTuneJob.plan(dev.crmn.jobs.common.Checkpointing.withLocalDefault(parsed.config()), parsed.kafka());
        FineTuneRounds.Collector reports = FineTuneRounds.collect();
        try (AutoCloseable lock = dev.crmn.jobs.common.InstanceLock.acquireHere(plan.kafka(),
                plan.config().get(FineTuneOptions.GROUP_ID), plan.config().get(FineTuneOptions.MODEL_UPDATES_TOPIC),
                "fine-tuning job");
             LocalJob job = LocalJob.startForRunner("finetune", 1, env -> FineTuneJob.build(env, plan),
                plan.jobName(), dev.crmn.jobs.common.Checkpointing.localSavepoints(plan.config(),
                        plan.config().get(FineTuneOptions.GROUP_ID)), fresh,
                new LocalJob.SavepointOwner(dev.crmn.connectors.kafka.CrmnKafka.clusterId(plan.kafka()),
                        plan.kafka().bootstrapServers(), plan.start().name()))) {
            System.err.printf("finetune: %s from %s; labelled frames from %s; announcing on %s; rounds of %d new frames"
                            + " or %d s, %d steps of a learner at learning rate %s, its weight average (decay %s) the"
                            + " candidate; %s; %s%s%n", plan.start().displayName(), plan.start().uri(),
                    plan.rounds().labelledTopic(), plan.config().get(FineTuneOptions.MODEL_UPDATES_TOPIC),
                    plan.rounds().roundFrames(), plan.rounds().roundIntervalMs() / 1000, plan.rounds().steps(),
                    plan.rounds().learningRate(), plan.rounds().averageDecay(), againstForgetting(plan.rounds()),
                    plan.rounds().gate().describe(),
                    plan.rounds().pruneKeep() > 0 ? "; the store pruned after each promotion (--prune-keep "
                            + plan.rounds().pruneKeep() + ")" : "");
            job.awaitEnd(duration);
        } finally {
            reports.close();
        }
        List<RoundReport> rounds = reports.all();
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("model", plan.start().name());
            doc.put("start_version", plan.start().version());
            doc.put("rounds", rounds);
            doc.put("promoted", rounds.stream().filter(RoundReport::promoted).map(RoundReport::candidateVersion).toList());
            CliSupport.printJson(doc);
        } else {
            rounds.forEach(r -> System.out.println(r.line()));
        }
        return 0;
    }
}
