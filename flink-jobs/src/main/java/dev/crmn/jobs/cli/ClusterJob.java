package dev.crmn.jobs.cli;

import dev.crmn.jobs.cluster.FlinkRestClient;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** What {@code crmn submit} and {@code crmn stop} act on: one of the jobs, on the cluster at a REST address. */
final class ClusterJob {

    @Parameters(index = "0", paramLabel = "JOB", description = "inference, finetune or quality")
    String job;

    @Option(names = "--rest-url", defaultValue = "http://localhost:8081",
            description = "The JobManager's REST address (default: ${DEFAULT-VALUE}).")
    String restUrl;

    /** The job named on the command line. */
    SubmitCommand.Kind kind() {
        return SubmitCommand.Kind.of(job);
    }

    FlinkRestClient rest() {
        return new FlinkRestClient(restUrl);
    }
}
