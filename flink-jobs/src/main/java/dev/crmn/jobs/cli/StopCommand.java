package dev.crmn.jobs.cli;

import dev.crmn.jobs.cluster.FlinkRestClient;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.time.Duration;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code crmn stop}: stops the inference or fine-tuning job running on a Flink cluster with a savepoint, through its
 * REST API (as {@code flink stop --savepointPath} would), and prints the savepoint's location for
 * {@code crmn submit --from-savepoint}. The last predictions are committed and the sources stop where the
 * savepoint says, so a job submitted from it predicts every later frame once.
 */
@Command(name = "stop", mixinStandardHelpOptions = true, description = "Stop the inference or fine-tuning job on a Flink cluster with a savepoint (REST"
        + " API) and print where it is, for crmn submit --from-savepoint.")
public final class StopCommand implements Callable<Integer> {

    @Mixin
    ClusterJob target;

    @Option(names = "--savepoint-dir", required = true, description = "Where the cluster writes the savepoint (a path or"
            + " URI the JobManager and TaskManagers can write, e.g. the cluster's state.savepoints.dir).")
    String savepointDir;

    @Option(names = "--wait-seconds", defaultValue = "300",
            description = "How long to wait for the savepoint (default: ${DEFAULT-VALUE}).")
    long waitSeconds;

    @Option(names = "--json", description = "Print one JSON document: job, job_id, savepoint, rest_url.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        SubmitCommand.Kind kind = target.kind();
        FlinkRestClient rest = target.rest();
        Optional<FlinkRestClient.Job> running = kind.running(rest);
        if (running.isEmpty()) {
            System.err.printf("stop: error: no %s job is running on %s%n", kind.namePrefix, rest.base());
            return 1;
        }
        String id = running.get().id();
        String savepoint = rest.stopWithSavepoint(id, savepointDir, Duration.ofSeconds(waitSeconds));
        System.err.printf("stop: %s (job %s) stopped with a savepoint at %s; crmn submit %s --from-savepoint %s ..."
                + " goes on from there%n", kind.namePrefix, id, savepoint, kind.name().toLowerCase(Locale.ROOT), savepoint);
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("job", kind.name().toLowerCase(Locale.ROOT));
            o.put("job_id", id);
            o.put("savepoint", savepoint);
            o.put("rest_url", rest.base().toString());
            System.out.println(o);
        } else {
            System.out.println(savepoint);
        }
        return 0;
    }
}
