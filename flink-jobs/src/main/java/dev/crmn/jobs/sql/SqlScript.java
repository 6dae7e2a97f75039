package dev.crmn.jobs.sql;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Map;

/**
 * A SQL script as {@code crmn sql} runs it: statements separated by {@code ;} (not inside quotes, backticks or
 * comments), comments removed, {@code ${name}} placeholders filled in, and an {@code EXECUTE STATEMENT SET BEGIN
 * ... END;} block kept as one statement.
 */
public final class SqlScript {

    private SqlScript() {
    }

    /** The statements of {@code script}, without their {@code ;}, with {@code ${key}} replaced by its value. */
    public static List<String> statements(String script, Map<String, String> placeholders) {
        String text = script;
        for (Map.Entry<String, String> e : placeholders.entrySet()) {
            text = text.replace("${" + e.getKey() + "}", e.getValue());
        }
        List<String> raw = split(text);
        List<String> out = new ArrayList<>();
        StringBuilder set = null;
        for (String s : raw) {
            String upper = s.toUpperCase(Locale.ROOT).replaceAll("\\s+", " ");
            if (set == null && (upper.startsWith("EXECUTE STATEMENT SET") || upper.startsWith("BEGIN STATEMENT SET"))) {
                set = new StringBuilder(s).append(";\n");
            } else if (set != null) {
                set.append(s);
                if (upper.equals("END")) {
                    out.add(set.toString());
                    set = null;
                } else {
                    set.append(";\n");
                }
            } else {
                out.add(s);
            }
        }
        if (set != null) {
            throw new IllegalArgumentException("a STATEMENT SET has no END: " + firstLine(set.toString()));
        }
        return out;
    }

    /** A {@code SET 'key' = 'value'} or {@code RESET 'key'} statement (value null), which the SQL client handles itself. */
    public record Setting(String key, String value) {
    }

    private static final java.util.regex.Pattern SET = java.util.regex.Pattern.compile(
            "(?is)SET\\s+'((?:[^']|'')+)'\\s*=\\s*'((?:[^']|'')*)'");
    private static final java.util.regex.Pattern RESET = java.util.regex.Pattern.compile("(?is)RESET\\s+'((?:[^']|'')+)'");

    /**
     * The setting a {@code SET}/{@code RESET} statement makes, or empty for any other statement.
     *
     * @throws IllegalArgumentException for a SET or RESET in another form (no quotes; {@code SET} alone)
     */
    public static java.util.Optional<Setting> setting(String statement) {
        String s = statement.strip();
        java.util.regex.Matcher m = SET.matcher(s);
        if (m.matches()) {
            return java.util.Optional.of(new Setting(m.group(1).replace("''", "'"), m.group(2).replace("''", "'")));
        }
        m = RESET.matcher(s);
        if (m.matches()) {
            return java.util.Optional.of(new Setting(m.group(1).replace("''", "'"), null));
        }
        String first = s.split("\\s+", 2)[0].toUpperCase(Locale.ROOT);
        if (first.equals("SET") || first.equals("RESET")) {
            throw new IllegalArgumentException("write " + first + " as " + first + " 'key'" + (first.equals("SET")
                    ? " = 'value'" : "") + " (quoted), got: " + firstLine(s));
        }
        return java.util.Optional.empty();
    }

    /** The first line of a statement, for messages. */
    public static String firstLine(String statement) {
        String s = statement.strip();
        int nl = s.indexOf('\n');
        return nl < 0 ? s : s.substring(0, nl) + " ...";
    }

    private static List<String> split(String text) {
        List<String> out = new ArrayList<>();
        StringBuilder cur = new StringBuilder();
        int n = text.length();
        for (int i = 0; i < n; i++) {
            char c = text.charAt(i);
            if (c == '-' && i + 1 < n && text.charAt(i + 1) == '-') {
                while (i < n && text.charAt(i) != '\n') {
                    i++;
                }
                cur.append('\n');
            } else if (c == '/' && i + 1 < n && text.charAt(i + 1) == '*') {
                int end = text.indexOf("*/", i + 2);
                if (end < 0) {
                    throw new IllegalArgumentException("a /* comment is never closed");
                }
                i = end + 1;
                cur.append(' ');
            } else if (c == '\'' || c == '"' || c == '`') {
                int j = i + 1;
                while (true) {
                    if (j >= n) {
                        throw new IllegalArgumentException("a " + c + " quote is never closed: "
                                + firstLine(text.substring(i, Math.min(n, i + 60))));
                    }
                    if (text.charAt(j) == c) {
                        if (j + 1 < n && text.charAt(j + 1) == c) { // '' inside a string
                            j += 2;
                            continue;
                        }
                        break;
                    }
                    j++;
                }
                cur.append(text, i, j + 1);
                i = j;
            } else if (c == ';') {
                add(out, cur);
                cur.setLength(0);
            } else {
                cur.append(c);
            }
        }
        add(out, cur);
        return out;
    }

    private static void add(List<String> out, StringBuilder cur) {
        String s = cur.toString().strip();
        if (!s.isEmpty()) {
            out.add(s);
        }
    }
}
