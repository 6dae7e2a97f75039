package dev.crmn.jobs.common;

import dev.crmn.connectors.kafka.KafkaOptions;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.apache.flink.configuration.ConfigOption;
import org.apache.flink.configuration.Configuration;

/**
 * Flink-style command-line flags for a job's {@link ConfigOption}s: {@code --<key> <value>} or
 * {@code --<key>=<value>} (a boolean option alone means true), Kafka client properties as
 * {@code --kafka.<property>=<value>}, and {@code --help}. Unknown flags and values of the wrong type are
 * errors that name the flag.
 */
public final class JobArgs {

    /**
     * @param config the options given, as a Flink configuration (read with {@code config.get(option)})
     * @param kafka  Kafka client properties
     * @param help   {@code --help} was given
     */
    public record Parsed(Configuration config, Map<String, String> kafka, boolean help) {
    }

    private JobArgs() {
    }

    /** Parses {@code args} against {@code options}. */
    public static Parsed parse(String[] args, List<ConfigOption<?>> options) {
        Map<String, ConfigOption<?>> known = new HashMap<>();
        for (ConfigOption<?> o : options) {
            known.put(o.key(), o);
        }
        Map<String, String> values = new LinkedHashMap<>();
        List<String> kafka = new ArrayList<>();
        boolean help = false;
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h")) {
                help = true;
                continue;
            }
            if (a.startsWith(KafkaOptions.PREFIX)) {
                kafka.add(a);
                if (!a.contains("=") && i + 1 < args.length) {
                    kafka.add(args[++i]);
                }
                continue;
            }
            if (!a.startsWith("--") || a.length() == 2) {
                throw new IllegalArgumentException("unexpected argument '" + a + "' (options are --<name> <value>; --help lists them)");
            }
            int eq = a.indexOf('=');
            String key = eq > 0 ? a.substring(2, eq) : a.substring(2);
            ConfigOption<?> option = known.get(key);
            if (option == null) {
                throw new IllegalArgumentException("unknown option --" + key + " (--help lists them)");
            }
            String value;
            if (eq > 0) {
                value = a.substring(eq + 1);
            } else if (isBoolean(option) && (i + 1 >= args.length || args[i + 1].startsWith("--"))) {
                value = "true";
            } else if (i + 1 < args.length) {
                value = args[++i];
            } else {
                throw new IllegalArgumentException("option --" + key + " needs a value");
            }
            values.put(key, value);
        }
        Configuration config = Configuration.fromMap(values);
        for (ConfigOption<?> o : options) {
            try {
                config.get(o);
            } catch (RuntimeException e) {
                throw new IllegalArgumentException("--" + o.key() + ": cannot read '" + values.get(o.key()) + "' ("
                        + e.getMessage() + ")");
            }
        }
        return new Parsed(config, KafkaOptions.parse(kafka), help);
    }

    private static boolean isBoolean(ConfigOption<?> o) {
        Object d = o.defaultValue();
        return d instanceof Boolean;
    }

    /** The options' help: one entry per flag with its default and description. */
    public static String help(String usage, List<ConfigOption<?>> options) {
        StringBuilder sb = new StringBuilder(usage).append("\n\nOptions:\n");
        for (ConfigOption<?> o : options) {
            sb.append("  --").append(o.key());
            if (o.hasDefaultValue()) {
                sb.append(" (default: ").append(o.defaultValue()).append(')');
            }
            sb.append("\n      ").append(new PlainText().format(o.description()).replace("\n", "\n      ")).append('\n');
        }
        sb.append("  --kafka.<property>=<value>\n      Any Kafka client property, for every client of the job "
                + "(e.g. --kafka.security.protocol=SASL_SSL).\n");
        return sb.toString();
    }

    /** Option descriptions as plain text (Flink ships only an HTML formatter). */
    private static final class PlainText extends org.apache.flink.configuration.description.Formatter {
        @Override
        protected void formatLink(StringBuilder state, String link, String description) {
            state.append(description).append(" (").append(link).append(')');
        }

        @Override
        protected void formatLineBreak(StringBuilder state) {
            state.append('\n');
        }

        @Override
        protected void formatText(StringBuilder state, String format, String[] elements,
                                  java.util.EnumSet<org.apache.flink.configuration.description.TextElement.TextStyle> styles) {
            state.append(String.format(format, (Object[]) elements));
        }

        @Override
        protected void formatList(StringBuilder state, String[] entries) {
            for (String e : entries) {
                state.append("\n  - ").append(e);
            }
        }

        @Override
        protected org.apache.flink.configuration.description.Formatter newInstance() {
            return new PlainText();
        }
    }
}
