package dev.crmn.jobs.cluster;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.net.ConnectException;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import java.util.UUID;

/**
 * The few calls of Flink's REST API (the JobManager's web port, {@code rest.port}) that submitting and watching the
 * jobs needs: cluster overview, jobs, jar upload/run/delete, checkpoint counts, cancel. What {@code flink run} does,
 * without a Flink installation on the submitting side.
 */
public final class FlinkRestClient {

    /** Job states in which a job counts as present (not finished, failed or cancelled). */
    public static final Set<String> ACTIVE_STATES = Set.of("INITIALIZING", "CREATED", "RUNNING", "RESTARTING",
            "RECONCILING", "FAILING", "CANCELLING", "SUSPENDED");

    /** One job of {@code /jobs/overview}. */
    public record Job(String id, String name, String state) {
        public boolean active() {
            return ACTIVE_STATES.contains(state);
        }
    }

    private static final ObjectMapper JSON = new ObjectMapper();
    private final URI base;
    private final HttpClient http;

    /** @param restUrl the JobManager's REST address, e.g. {@code http://localhost:8081} */
    public FlinkRestClient(String restUrl) {
        String u = restUrl.endsWith("/") ? restUrl.substring(0, restUrl.length() - 1) : restUrl;
        if (!u.startsWith("http://") && !u.startsWith("https://")) {
            throw new IllegalArgumentException("REST address must start with http:// or https://, got '" + restUrl + "'");
        }
        this.base = URI.create(u);
        this.http = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    }

    public URI base() {
        return base;
    }

    /** Number of TaskManagers registered, or -1 when the JobManager does not answer. */
    public int taskManagers() {
        try {
            return get("/overview").path("taskmanagers").asInt(0);
        } catch (IOException e) {
            return -1;
        }
    }

    /**
     * Waits until the JobManager answers and at least one TaskManager has registered.
     *
     * @throws IOException naming the address when that does not happen within {@code timeout}
     */
    public void awaitTaskManager(Duration timeout) throws IOException, InterruptedException {
        long deadline = System.nanoTime() + timeout.toNanos();
        int tms;
        while ((tms = taskManagers()) < 1) {
            if (System.nanoTime() > deadline) {
                throw new IOException(tms < 0 ? "no Flink JobManager answers at " + base + " (waited " + timeout.toSeconds() + " s)"
                        : "the Flink cluster at " + base + " has no TaskManager (waited " + timeout.toSeconds() + " s)");
            }
            Thread.sleep(500); // polling a remote process: nothing to wait on but its answer
        }
    }

    public List<Job> jobs() throws IOException {
        List<Job> out = new ArrayList<>();
        for (JsonNode j : get("/jobs/overview").path("jobs")) {
            out.add(new Job(j.path("jid").asText(), j.path("name").asText(), j.path("state").asText()));
        }
        return out;
    }

    /** Uploads a job jar; returns its id on the cluster. */
    public String uploadJar(Path jar) throws IOException {
        if (!Files.isRegularFile(jar)) {
            throw new IOException("job jar not found: " + jar + " (mvn -DskipTests package builds target/dist/crmn-flink-job.jar)");
        }
        String boundary = "crmn-" + UUID.randomUUID();
        ByteArrayOutputStream body = new ByteArrayOutputStream();
        body.writeBytes(("--" + boundary + "\r\nContent-Disposition: form-data; name=\"jarfile\"; filename=\""
                + jar.getFileName() + "\"\r\nContent-Type: application/x-java-archive\r\n\r\n").getBytes(StandardCharsets.UTF_8));
        body.writeBytes(Files.readAllBytes(jar));
        body.writeBytes(("\r\n--" + boundary + "--\r\n").getBytes(StandardCharsets.UTF_8));
        JsonNode r = send(HttpRequest.newBuilder(base.resolve("/jars/upload"))
                .header("Content-Type", "multipart/form-data; boundary=" + boundary)
                .POST(HttpRequest.BodyPublishers.ofByteArray(body.toByteArray())), "upload " + jar.getFileName());
        String file = r.path("filename").asText();
        if (file.isEmpty()) {
            throw new IOException("jar upload to " + base + " answered without a file name: " + r);
        }
        return Path.of(file).getFileName().toString();
    }

    /** Runs an uploaded jar's {@code entryClass} with {@code args}; returns the job id. */
    public String runJar(String jarId, String entryClass, List<String> args) throws IOException {
        return runJar(jarId, entryClass, args, null);
    }

    /**
     * Runs an uploaded jar's {@code entryClass} with {@code args}, restored from {@code savepoint} if not null
     * (Flink's default restore mode: the savepoint stays the user's); returns the job id.
     */
    public String runJar(String jarId, String entryClass, List<String> args, String savepoint) throws IOException {
        ObjectNode req = JSON.createObjectNode();
        req.put("entryClass", entryClass);
        if (savepoint != null) {
            req.put("savepointPath", savepoint);
        }
        ArrayNode list = req.putArray("programArgsList");
        args.forEach(list::add);
        JsonNode r = send(HttpRequest.newBuilder(base.resolve("/jars/" + jarId + "/run"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(req))), "run " + entryClass);
        String id = r.path("jobid").asText();
        if (id.isEmpty()) {
            throw new IOException("the cluster at " + base + " accepted " + entryClass + " but returned no job id: " + r);
        }
        return id;
    }

    /** Deletes an uploaded jar (the JobManager keeps uploads in its web upload directory until then). */
    public void deleteJar(String jarId) throws IOException {
        send(HttpRequest.newBuilder(base.resolve("/jars/" + jarId)).DELETE(), "delete jar");
    }

    /** The job's state ({@code RUNNING}, ...). */
    public String state(String jobId) throws IOException {
        return get("/jobs/" + jobId).path("state").asText();
    }

    /** Number of completed checkpoints of a job. */
    public long completedCheckpoints(String jobId) throws IOException {
        return get("/jobs/" + jobId + "/checkpoints").path("counts").path("completed").asLong(0);
    }

    /**
     * Stops a job with a savepoint into {@code targetDirectory} (a path or URI the JobManager and TaskManagers
     * can write) and waits for the savepoint and for the job to finish; returns the savepoint's location.
     *
     * @throws IOException with the cluster's reason if the savepoint fails, or if it takes longer than {@code timeout}
     */
    public String stopWithSavepoint(String jobId, String targetDirectory, Duration timeout)
            throws IOException, InterruptedException {
        ObjectNode req = JSON.createObjectNode();
        req.put("targetDirectory", targetDirectory);
        req.put("drain", false);
        JsonNode trigger = send(HttpRequest.newBuilder(base.resolve("/jobs/" + jobId + "/stop"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString(JSON.writeValueAsString(req))), "stop " + jobId);
        String requestId = trigger.path("request-id").asText();
        long deadline = System.nanoTime() + timeout.toNanos();
        while (true) {
            JsonNode r = get("/jobs/" + jobId + "/savepoints/" + requestId);
            if ("COMPLETED".equals(r.path("status").path("id").asText())) {
                JsonNode op = r.path("operation");
                if (op.has("location")) {
                    // the job finishes just after its savepoint: wait for that, so that a submit right after this
                    // does not find it still running
                    while (ACTIVE_STATES.contains(state(jobId))) {
                        if (System.nanoTime() > deadline) {
                            throw new IOException("job " + jobId + " took its savepoint at " + op.path("location").asText()
                                    + " but did not finish within " + timeout.toSeconds() + " s");
                        }
                        Thread.sleep(200); // polling the JobManager's REST API
                    }
                    return op.path("location").asText();
                }
                throw new IOException("the savepoint of job " + jobId + " failed: "
                        + op.path("failure-cause").path("stack-trace").asText(op.toString()).lines().findFirst().orElse(""));
            }
            if (System.nanoTime() > deadline) {
                throw new IOException("the savepoint of job " + jobId + " did not complete within " + timeout.toSeconds() + " s");
            }
            Thread.sleep(200); // polling the JobManager's REST API
        }
    }

    /** Cancels a job (returns once the request is accepted). */
    public void cancel(String jobId) throws IOException {
        send(HttpRequest.newBuilder(base.resolve("/jobs/" + jobId + "?mode=cancel"))
                .method("PATCH", HttpRequest.BodyPublishers.noBody()), "cancel " + jobId);
    }

    public JsonNode get(String path) throws IOException {
        return send(HttpRequest.newBuilder(base.resolve(path)).GET(), "GET " + path);
    }

    private JsonNode send(HttpRequest.Builder request, String what) throws IOException {
        HttpResponse<String> r;
        try {
            r = http.send(request.timeout(Duration.ofMinutes(2)).build(), HttpResponse.BodyHandlers.ofString());
        } catch (ConnectException e) {
            throw new IOException("no Flink JobManager answers at " + base + " (" + what + ")", e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted: " + what, e);
        }
        JsonNode body = r.body().isBlank() ? JSON.createObjectNode() : parse(r.body());
        if (r.statusCode() >= 300) {
            throw new IOException(what + " failed (HTTP " + r.statusCode() + "): " + errors(body, r.body()));
        }
        return body;
    }

    private static JsonNode parse(String s) {
        try {
            return JSON.readTree(s);
        } catch (IOException e) {
            return JSON.createObjectNode().put("text", s);
        }
    }

    /**
     * The useful part of Flink's error answer: its {@code errors} list holds a message and, for a failed program,
     * the whole server-side stack trace; the lines that say what went wrong are the causes' messages.
     */
    static String errors(JsonNode body, String raw) {
        JsonNode errors = body.path("errors");
        if (!errors.isArray() || errors.isEmpty()) {
            return raw.length() > 500 ? raw.substring(0, 500) + "..." : raw;
        }
        List<String> lines = new ArrayList<>();
        for (JsonNode e : errors) {
            for (String line : e.asText().split("\n")) {
                String t = line.strip();
                if (t.startsWith("Caused by: ") || lines.isEmpty() && !t.startsWith("at ")) {
                    lines.add(t.startsWith("Caused by: ") ? t.substring("Caused by: ".length()) : t);
                }
            }
        }
        return String.join("; caused by: ", lines);
    }
}
