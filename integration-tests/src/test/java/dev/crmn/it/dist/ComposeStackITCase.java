package dev.crmn.it.dist;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.jobs.cli.Crmn;
import dev.crmn.jobs.cli.SubmitCommand;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import picocli.CommandLine;

/**
 * What can be checked of the Docker Compose files without a Docker engine (docker/smoke-test.sh runs the stack for
 * real, and .ci/run also runs {@code docker-compose config}): the services and their start order, the offline
 * override's stand-ins and the gpu profile, the files the Compose file mounts, the build
 * outputs and sources the Dockerfile copies (after this build: target/dist), and that every {@code crmn} command the
 * image's scripts run is one the launcher accepts, job options included.
 */
class ComposeStackITCase {

    static final Path ROOT = Path.of("..");
    static final Path DOCKER = ROOT.resolve("docker");

    static JsonNode compose() throws Exception {
        return yaml(DOCKER.resolve("docker-compose.yml"));
    }

    /** A Compose file as Compose reads it: anchors, aliases and merge keys ({@code <<: *anchor}) resolved. */
    static JsonNode yaml(Path file) throws Exception {
        try (java.io.Reader r = Files.newBufferedReader(file)) {
            Object doc = new org.yaml.snakeyaml.Yaml().load(r);
            return new ObjectMapper().valueToTree(doc);
        }
    }

    @Test
    void servicesStartInOrderAndWhatTheyWaitOnHasAHealthCheck() throws Exception {
        JsonNode services = compose().path("services");
        List<String> names = new ArrayList<>();
        services.fieldNames().forEachRemaining(names::add);
        assertThat(names).contains("kafka", "jobmanager", "taskmanager", "submit", "producer", "prometheus", "grafana");
        for (String name : names) {
            JsonNode deps = services.path(name).path("depends_on");
            for (Iterator<Map.Entry<String, JsonNode>> it = deps.fields(); it.hasNext(); ) {
                Map.Entry<String, JsonNode> d = it.next();
                assertThat(names).as("%s depends on %s", name, d.getKey()).contains(d.getKey());
                String condition = d.getValue().path("condition").asText();
                assertThat(condition).isIn("service_healthy", "service_started", "service_completed_successfully");
                if (condition.equals("service_healthy")) {
                    assertThat(services.path(d.getKey()).has("healthcheck")).as("%s waits for %s to be healthy", name, d.getKey()).isTrue();
                }
            }
        }
        assertThat(services.path("submit").path("depends_on").has("jobmanager")).isTrue();
        assertThat(services.path("producer").path("depends_on").path("submit").path("condition").asText())
                .isEqualTo("service_completed_successfully");
        assertThat(services.path("submit").path("restart").asText()).as("a refused option must not restart for ever")
                .matches("on-failure:[1-9][0-9]*");
    }

    @Test
    void everyFileTheComposeFileMountsExists() throws Exception {
        JsonNode services = compose().path("services");
        for (Iterator<Map.Entry<String, JsonNode>> it = services.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> s = it.next();
            for (JsonNode v : s.getValue().path("volumes")) {
                String source = v.asText().split(":")[0];
                if (source.startsWith("./")) {
                    assertThat(DOCKER.resolve(source)).as("%s mounts %s", s.getKey(), source).exists();
                }
            }
        }
        assertThat(DOCKER.resolve("grafana/dashboards/crmn-flink.json")).isRegularFile();
        new ObjectMapper().readTree(DOCKER.resolve("grafana/dashboards/crmn-flink.json").toFile()); // valid JSON
    }

    @Test
    void theDockerfileCopiesWhatTheBuildLeavesAndWhatTheRepositoryHolds() throws Exception {
        String dockerfile = Files.readString(DOCKER.resolve("Dockerfile"));
        assertThat(dockerfile).contains("ARG FLINK_IMAGE=flink:2.2.").contains("java17").contains("FROM ${FLINK_IMAGE}");
        // the build stage needs the POM of every module the parent lists (a module added without it broke the image)
        Matcher modules = Pattern.compile("<module>([^<]+)</module>").matcher(Files.readString(ROOT.resolve("pom.xml")));
        while (modules.find()) {
            assertThat(dockerfile).as("the Dockerfile copies %s/pom.xml", modules.group(1))
                    .contains("COPY " + modules.group(1) + "/pom.xml " + modules.group(1) + "/");
        }
        // the runtime stage copies the build stage's target/dist: the same layout this build left
        assertThat(dockerfile).contains("cp -r target/dist /out/dist", "COPY --from=build /out/dist/lib/ /opt/flink/lib/",
                "COPY --from=build /out/dist/crmn-flink-job.jar");
        assertThat(ROOT.resolve("target/dist/crmn-flink-job.jar")).isRegularFile();
        try (Stream<Path> lib = Files.list(ROOT.resolve("target/dist/lib"))) {
            assertThat(lib.map(p -> p.getFileName().toString())).anyMatch(n -> n.endsWith("-nd4j-bridge.jar"));
        }
        Matcher m = Pattern.compile("(?m)^COPY (?!--from)(\\S+) ").matcher(dockerfile);
        int copies = 0;
        while (m.find()) {
            assertThat(ROOT.resolve(m.group(1))).as("COPY %s (build context: the repository)", m.group(1)).exists();
            copies++;
        }
        assertThat(copies).isGreaterThan(5);
        String ignore = Files.readString(ROOT.resolve(".dockerignore"));
        assertThat(ignore).contains("!models/crmn-demo");
    }

    @Test
    void theOfflineOverrideReplacesEveryImageWithAStandInTheBuildScriptMakes() throws Exception {
        JsonNode base = compose().path("services");
        JsonNode offline = yaml(DOCKER.resolve("docker-compose.offline.yml")).path("services");
        String script = Files.readString(DOCKER.resolve("build-offline-images.sh"));
        for (Iterator<Map.Entry<String, JsonNode>> it = base.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> s = it.next();
            String name = s.getKey();
            JsonNode service = s.getValue();
            if (service.has("profiles")) {
                continue; // not started by default (gpu)
            }
            if (name.equals("grafana")) {
                assertThat(offline.path(name).path("profiles").toString()).as("grafana stays out offline").contains("grafana");
                continue;
            }
            JsonNode o = offline.path(name);
            if (service.has("build")) {
                for (JsonNode arg : o.path("build").path("args")) {
                    assertThat(script).as("%s builds from %s, which the script makes", name, arg.asText()).contains(arg.asText());
                }
                assertThat(o.path("build").path("args").size()).as("%s builds from stand-ins", name).isEqualTo(2);
            } else {
                String image = o.path("image").asText();
                assertThat(image).as("%s (%s) has a stand-in", name, service.path("image").asText()).startsWith("crmn-offline/");
                assertThat(script).as("the script builds %s", image).contains(image);
            }
        }
    }

    @Test
    void theGpuProfileAddsATaskManagerWithAnNvidiaDeviceAndTheCudaBuild() throws Exception {
        JsonNode services = compose().path("services");
        JsonNode gpu = services.path("taskmanager-gpu");
        assertThat(gpu.path("profiles").toString()).contains("gpu");
        assertThat(gpu.path("command").asText()).isEqualTo("taskmanager");
        assertThat(gpu.path("deploy").path("resources").path("reservations").path("devices").get(0).path("driver").asText())
                .isEqualTo("nvidia");
        assertThat(gpu.path("build").path("args").path("MAVEN_PROFILES").asText()).contains("CRMN_MAVEN_PROFILES");
        assertThat(Files.readString(DOCKER.resolve("Dockerfile"))).contains("${MAVEN_PROFILES} -pl model,connectors,flink-jobs -am install");
        assertThat(Files.readString(ROOT.resolve("pom.xml"))).contains("<id>cuda13</id>");
    }

    @Test
    void everyCrmnCommandTheImageRunsIsOneTheLauncherAccepts() throws Exception {
        List<String> commands = new ArrayList<>();
        try (Stream<Path> scripts = Files.list(DOCKER.resolve("bin"))) {
            for (Path script : scripts.sorted().toList()) {
                assertThat(Files.isExecutable(script)).as("%s is executable", script).isTrue();
                String text = Files.readString(script).replace("\\\n", " ");
                for (String line : text.split("\n")) {
                    String l = line.strip();
                    if (l.startsWith("crmn ")) {
                        commands.add(l);
                    }
                }
            }
        }
        assertThat(commands).anyMatch(c -> c.startsWith("crmn submit inference")).anyMatch(c -> c.startsWith("crmn submit finetune"))
                .anyMatch(c -> c.startsWith("crmn topics")).anyMatch(c -> c.startsWith("crmn produce"));
        for (String c : commands) {
            List<String> args = tokens(c);
            CommandLine.ParseResult parsed = Crmn.commandLine().parseArgs(args.subList(1, args.size()).toArray(new String[0]));
            CommandLine.ParseResult sub = parsed.subcommand();
            assertThat(sub).as(c).isNotNull();
            if (sub.commandSpec().name().equals("submit")) {
                SubmitCommand.validate(sub.matchedPositional(0).getValue(), sub.unmatched());
            } else {
                assertThat(sub.unmatched()).as("options %s does not know", c).isEmpty();
            }
        }
    }

    /** Shell words of a script line, with variables replaced by plausible values and trailing {@code &} dropped. */
    static List<String> tokens(String line) {
        String s = line.replaceAll("\\$\\{[A-Z_]+:-}", "")        // optional extra arguments: none
                .replace("$data", "/data/cifar10")
                .replace("\"${corrupt[@]}\"", "--corrupt gaussian-noise:3")   // CRMN_CORRUPT set
                .replaceAll("\"\\$jar\"", "/opt/crmn/crmn-flink-job.jar")
                .replaceAll("\"\\$CRMN_[A-Z_]*RATE\"", "100")
                .replaceAll("\"\\$CRMN_REST_URL\"", "http://jobmanager:8081")
                .replaceAll("\"\\$CRMN_STORE\"", "file:///data/models")
                .replaceAll("\"\\$CRMN_BOOTSTRAP_SERVERS\"", "kafka:29092")
                .replaceAll("&\\s*$", "");
        assertThat(s).as("a variable this test does not substitute: %s", line).doesNotContain("$");
        List<String> out = new ArrayList<>();
        for (String t : s.trim().split("\\s+")) {
            out.add(t.replace("\"", ""));
        }
        return out;
    }
}
