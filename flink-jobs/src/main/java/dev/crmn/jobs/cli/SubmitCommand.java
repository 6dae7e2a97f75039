package dev.crmn.jobs.cli;

import dev.crmn.jobs.cluster.FlinkRestClient;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.crmn.jobs.common.JobArgs;
import dev.crmn.jobs.finetune.FineTuneJob;
import dev.crmn.jobs.finetune.FineTuneOptions;
import dev.crmn.jobs.inference.InferenceJob;
import dev.crmn.jobs.inference.InferenceOptions;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Optional;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Unmatched;

/**
 * {@code crmn submit}: submits the inference or the fine-tuning job to a running Flink cluster through its REST API
 * (upload the job jar, run its entry class with the job's options, delete the upload), as {@code flink run -d}
 * would. A job of the same kind that is already running is left alone unless {@code --allow-duplicate}, so the
 * command can be retried (the Compose stack's one-shot service does).
 */
@Command(name = "submit", mixinStandardHelpOptions = true, description = "Submit the inference, fine-tuning or quality job to a Flink cluster through its REST API"
        + " (the job jar target/dist/crmn-flink-job.jar; options after the job name are the job's own, as for crmn"
        + " infer / crmn finetune / crmn quality). A job of that kind already running is left alone.")
public final class SubmitCommand implements Callable<Integer> {

    /** The jobs: entry class and the prefix of their job names (what "already running" compares). */
    public enum Kind {
        INFERENCE(InferenceJob.class.getName(), "crmn inference"),
        FINETUNE(FineTuneJob.class.getName(), "crmn fine-tuning"),
        QUALITY(dev.crmn.jobs.quality.QualityJob.class.getName(), "crmn quality");

        final String entryClass;
        final String namePrefix;

        Kind(String entryClass, String namePrefix) {
            this.entryClass = entryClass;
            this.namePrefix = namePrefix;
        }

        /** The job named {@code job} ({@code inference}, {@code finetune} or {@code quality}). */
        static Kind of(String job) {
            return switch (job.toLowerCase(Locale.ROOT)) {
                case "inference", "infer" -> INFERENCE;
                case "finetune", "fine-tuning" -> FINETUNE;
                case "quality" -> QUALITY;
                default -> throw new IllegalArgumentException("unknown job '" + job + "' (inference, finetune or quality)");
            };
        }

        /** The running (or starting) job of this kind on the cluster, if any. */
        Optional<FlinkRestClient.Job> running(FlinkRestClient rest) throws java.io.IOException {
            return rest.jobs().stream().filter(j -> j.active() && j.name().startsWith(namePrefix)).findFirst();
        }
    }

    @Mixin
    ClusterJob target;

    @Option(names = "--jar", defaultValue = "target/dist/crmn-flink-job.jar",
            description = "The job jar to upload (default: ${DEFAULT-VALUE}).")
    Path jar;

    @Option(names = "--wait-seconds", defaultValue = "120",
            description = "How long to wait for the JobManager to answer with a TaskManager registered (default: ${DEFAULT-VALUE}).")
    long waitSeconds;

    @Option(names = "--from-savepoint", paramLabel = "PATH", description = "Start from this savepoint (what crmn stop"
            + " printed): the job goes on where the stopped one ended, each frame predicted once.")
    String fromSavepoint;

    @Option(names = "--allow-duplicate", description = "Submit even if a job of this kind is already running.")
    boolean allowDuplicate;

    @Option(names = "--json", description = "Print one JSON document: job, job_id, submitted, rest_url.")
    boolean json;

    @Unmatched
    List<String> jobArgs = new ArrayList<>();

    /**
     * The job named {@code job}, after checking {@code jobArgs} against its options here, before anything is uploaded
     * (a typo is one line now, not a stack trace from the JobManager).
     *
     * @throws IllegalArgumentException naming the unknown job or the bad option
     */
    public static Kind validate(String job, List<String> jobArgs) {
        Kind kind = Kind.of(job);
        JobArgs.parse(jobArgs.toArray(new String[0]), switch (kind) {
            case INFERENCE -> InferenceOptions.ALL;
            case FINETUNE -> FineTuneOptions.ALL;
            case QUALITY -> dev.crmn.jobs.quality.QualityOptions.ALL;
        });
        return kind;
    }

    @Override
    public Integer call() throws Exception {
        Kind kind = validate(target.job, jobArgs);
        FlinkRestClient rest = target.rest();
        rest.awaitTaskManager(Duration.ofSeconds(waitSeconds));
        Optional<FlinkRestClient.Job> running = allowDuplicate ? Optional.empty() : kind.running(rest);
        String id;
        if (running.isPresent()) {
            id = running.get().id();
            System.err.printf("submit: %s is already running on %s as job %s (%s, %s); not submitted again"
                    + " (--allow-duplicate to submit anyway)%n", kind.namePrefix, rest.base(), id, running.get().name(),
                    running.get().state());
        } else {
            String jarId = rest.uploadJar(jar);
            try {
                id = rest.runJar(jarId, kind.entryClass, jobArgs, fromSavepoint);
            } finally {
                try {
                    rest.deleteJar(jarId);
                } catch (java.io.IOException e) { // the submission's own outcome matters more
                    System.err.println("submit: warning: could not delete the uploaded jar " + jarId + ": " + e.getMessage());
                }
            }
            System.err.printf("submit: %s submitted to %s as job %s%s (web UI: %s/#/job/running/%s/overview)%n",
                    kind.namePrefix, rest.base(), id, fromSavepoint == null ? "" : " from " + fromSavepoint, rest.base(),
                    id);
        }
        if (json) {
            ObjectNode o = new ObjectMapper().createObjectNode();
            o.put("job", kind.name().toLowerCase(Locale.ROOT));
            o.put("job_id", id);
            o.put("submitted", running.isEmpty());
            o.put("rest_url", rest.base().toString());
            System.out.println(o);
        } else {
            System.out.println(id);
        }
        return 0;
    }
}
