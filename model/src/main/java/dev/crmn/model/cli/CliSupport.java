package dev.crmn.model.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import java.io.IOException;
import java.io.PrintStream;
import java.io.UncheckedIOException;

/** Shared output helpers of the command-line tools: one JSON document on stdout for {@code --json}. */
public final class CliSupport {

    private static final ObjectMapper JSON = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);

    private CliSupport() {
    }

    public static ObjectMapper json() {
        return JSON;
    }

    /** Prints {@code value} as one JSON document on stdout. */
    public static void printJson(Object value) {
        try {
            PrintStream out = System.out;
            out.println(JSON.writeValueAsString(value));
            out.flush();
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }
}
