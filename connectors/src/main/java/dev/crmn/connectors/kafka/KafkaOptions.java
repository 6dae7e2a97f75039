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

    /** Client properties: bootstrap servers, then the user's properties. */
    public Properties toProperties() {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrapServers);
        p.putAll(properties);
        return p;
    }
}
