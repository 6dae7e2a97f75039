package dev.crmn.connectors.kafka;

import java.io.Serializable;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

/**
 * Where and how to reach Kafka: the bootstrap servers plus any Kafka client property, given on the command
 * line as {@code --kafka.<property>=<value>} (e.g. {@code --kafka.security.protocol=SASL_SSL
 * --kafka.sasl.mechanism=PLAIN}), so secured clusters work without code changes. The properties apply to
 * every consumer, producer and admin client the project creates.
 */
public record KafkaOptions(String bootstrapServers, Map<String, String> properties) implements Serializable {

    public static final String PREFIX = "--kafka.";

    public KafkaOptions {
        if (bootstrapServers == null || bootstrapServers.isBlank()) {
            throw new IllegalArgumentException("bootstrap servers must be set (--bootstrap-servers)");
        }
        properties = Map.copyOf(properties == null ? Map.of() : properties);
    }

    public static KafkaOptions of(String bootstrapServers) {
        return new KafkaOptions(bootstrapServers, Map.of());
    }

    /**
     * Collects {@code --kafka.name=value} and {@code --kafka.name value} arguments.
     *
     * @throws IllegalArgumentException for any other argument, naming it
     */
    public static Map<String, String> parse(List<String> args) {
        Map<String, String> props = new LinkedHashMap<>();
        List<String> unknown = new ArrayList<>();
        for (int i = 0; i < args.size(); i++) {
            String a = args.get(i);
            if (!a.startsWith(PREFIX) || a.length() == PREFIX.length()) {
                unknown.add(a);
                continue;
            }
            String rest = a.substring(PREFIX.length());
            int eq = rest.indexOf('=');
            if (eq > 0) {
                props.put(rest.substring(0, eq), rest.substring(eq + 1));
            } else if (i + 1 < args.size()) {
                props.put(rest, args.get(++i));
            } else {
                throw new IllegalArgumentException("option " + a + " needs a value");
            }
        }
        if (!unknown.isEmpty()) {
            throw new IllegalArgumentException("unknown option(s): " + String.join(" ", unknown)
                    + " (Kafka client properties are passed as --kafka.<property>=<value>)");
        }
        return props;
    }

    /**
     * Client properties the jobs set themselves, each for a reason a user's value would break: offsets are committed
     * with Flink's checkpoints (enable.auto.commit), sources read only committed records (isolation.level), the
     * group and transactional ids come from the jobs' own options (--group-id, --transactional-id-prefix; a static
     * member id would let two subtasks fence each other), where to start from --starting-offsets, and the records'
     * (de)serializers and idempotence from the connector.
     */
    public static final Map<String, String> JOB_OWNED = Map.ofEntries(
            Map.entry("enable.auto.commit", "offsets are committed with Flink's checkpoints"),
            Map.entry("isolation.level", "every source reads read_committed"),
            Map.entry("group.id", "use --group-id"),
            Map.entry("group.instance.id", "the connector's consumers are dynamic members"),
            Map.entry("transactional.id", "use --transactional-id-prefix"),
            Map.entry("auto.offset.reset", "use --starting-offsets"),
            Map.entry("enable.idempotence", "the exactly-once sinks need it"),
            Map.entry("bootstrap.servers", "use --bootstrap-servers"),
            Map.entry("key.deserializer", "set by the connector"),
            Map.entry("value.deserializer", "set by the connector"),
            Map.entry("key.serializer", "set by the connector"),
            Map.entry("value.serializer", "set by the connector"));

    /**
     * Refuses, in one line, a {@code --kafka.*} property a job sets itself ({@link #JOB_OWNED}) instead of passing it
     * on silently.
     */
    public static void refuseJobOwned(Map<String, String> properties) {
        for (String key : properties.keySet()) {
            String why = JOB_OWNED.get(key);
            if (why != null) {
                throw new IllegalArgumentException(PREFIX + key + " is set by the job, not configurable (" + why + ")");
            }
        }
    }

    /** Client properties: bootstrap servers, then the user's properties. */
    public Properties toProperties() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.putAll(properties);
        return p;
    }
}
