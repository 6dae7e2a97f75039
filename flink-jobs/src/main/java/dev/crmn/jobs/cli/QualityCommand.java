package dev.crmn.jobs.cli;

import dev.crmn.connectors.format.ModelQuality;
import dev.crmn.jobs.common.Checkpointing;
import dev.crmn.jobs.common.InstanceLock;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.local.LocalJob;
import dev.crmn.jobs.quality.QualityJob;
import dev.crmn.jobs.quality.QualityOptions;
import dev.crmn.jobs.quality.QualityReports;
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
 * {@code crmn quality}: the quality job on a local Flink MiniCluster, until {@code --duration} elapses or Ctrl-C;
 * with {@code --json}, one document of each version's figures and the decisions at the end.
 */
@Command(name = "quality", description = "Run the quality job (predictions joined with their labels -> live accuracy"
        + " per model version on model-quality -> automatic rollback of a significantly worse version) on a local"
        + " Flink MiniCluster. --help lists its options.")
public final class QualityCommand implements Callable<Integer> {

    @Option(names = "--duration", defaultValue = "0", description = "Stop after this many seconds (0 = until Ctrl-C).")
    double duration;

    @Option(names = "--json", description = "At the end, print one JSON document: each version's figures, the decisions.")
    boolean json;

    @Option(names = "--fresh", description = "Start from the offsets committed to Kafka, not from the savepoint the"
            + " last stop left in <checkpoint-dir>/savepoints/<group-id>.")
    boolean fresh;

    @Unmatched
    List<String> jobArgs = new ArrayList<>();

    @Override
    public Integer call() throws Exception {
        LocalJob.checkDuration(duration);
        JobArgs.Parsed parsed = JobArgs.parse(jobArgs.toArray(new String[0]), QualityOptions.ALL);
        if (parsed.help()) {
            System.out.println(JobArgs.help(QualityJob.USAGE + "\n\n  --duration SECONDS\n      Stop after this long"
                    + " (crmn quality only; default: until Ctrl-C).\n  --fresh\n      Start from the offsets committed to"
                    + " Kafka, not from the savepoint the last stop left (crmn quality only).\n  --json\n      At the end,"
                    + " one JSON document of each version's figures and the decisions (crmn quality only).",
                    QualityOptions.ALL));
            return 0;
        }
        QualityJob.Plan plan = QualityJob.plan(Checkpointing.withLocalDefault(parsed.config()), parsed.kafka());
        String group = plan.config().get(QualityOptions.GROUP_ID);
        QualityReports.Collector reports = QualityReports.collect();
        try (AutoCloseable lock = InstanceLock.acquireHere(plan.kafka(), group,
                plan.config().get(QualityOptions.MODEL_UPDATES_TOPIC), "quality job");
             LocalJob job = LocalJob.startForRunner("quality", 1, env -> QualityJob.build(env, plan), plan.jobName(),
                     Checkpointing.localSavepoints(plan.config(), group), fresh,
                     new LocalJob.SavepointOwner(dev.crmn.connectors.kafka.CrmnKafka.clusterId(plan.kafka()),
                             plan.kafka().bootstrapServers(), "quality"))) {
            System.err.printf("quality: predictions from %s, late labels from %s (waiting up to %d s); live accuracy per"
                            + " version on %s every %d ms; a version is rolled back on %s when, after %d labelled"
                            + " predictions (then twice, four times as many), it is below the version it replaced with"
                            + " p < alpha/2^(look+1), alpha %s (%s); rollbacks recorded in %s%n",
                    plan.config().get(QualityOptions.PREDICTIONS_TOPIC), plan.config().get(QualityOptions.LABELS_TOPIC),
                    plan.config().get(QualityOptions.MAX_LABEL_DELAY), plan.config().get(QualityOptions.MODEL_QUALITY_TOPIC),
                    plan.config().get(QualityOptions.REPORT_INTERVAL_MS), plan.config().get(QualityOptions.MODEL_UPDATES_TOPIC),
                    plan.rule().minLabelled(), plan.rule().alpha(), dev.crmn.jobs.quality.RollbackRule.TEST,
                    plan.store().uri());
            job.awaitEnd(duration);
        } finally {
            reports.close();
        }
        List<ModelQuality> versions = reports.latest();
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("versions", versions);
            doc.put("decisions", reports.decisions());
            CliSupport.printJson(doc);
        } else {
            for (ModelQuality q : versions) {
                System.out.printf("%s v%d: %s; %d predictions, %d labelled, accuracy %s%s%n", q.model(), q.version(),
                        q.status(), q.predictions(), q.labelled(), q.accuracy() == null ? "-"
                                : String.format("%.2f %%", 100 * q.accuracy()),
                        q.decision() == null ? "" : "; " + q.decision().action() + " to v" + q.decision().to() + ": "
                                + q.decision().reason());
            }
        }
        return 0;
    }
}
