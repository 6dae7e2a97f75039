package dev.crmn.model.cli;

import java.io.PrintStream;

/**
 * A status line on stderr for the command-line tools: redrawn in place (at most 5 times a second) on a
 * terminal; on a pipe or log file, written as a full line at most every 30 seconds, so logs stay readable.
 * Not thread-safe.
 */
public final class Progress {

    private final PrintStream err = System.err;
    private final boolean tty = System.console() != null;
    private long last;
    private int width;

    /** Shows {@code line} if enough time has passed since the last one. */
    public void update(String line) {
        long now = System.nanoTime();
        if (last != 0 && now - last < (tty ? 200_000_000L : 30_000_000_000L)) {
            return;
        }
        last = now;
        show(line);
    }

    /** Shows {@code line} now and ends it: the next output starts on a new line. */
    public void done(String line) {
        show(line);
        if (tty) {
            err.println();
        }
        last = 0;
        width = 0;
    }

    /**
     * Prints {@code line} on a line of its own, now (an event, not a status): a redrawn status line is cleared
     * first, and the next {@link #update} draws it again at once.
     */
    public void note(String line) {
        clear();
        err.println(line);
        err.flush();
        last = 0;
    }

    /** Clears a redrawn line on a terminal (before printing something else). */
    public void clear() {
        if (tty && width > 0) {
            err.print("\r" + " ".repeat(width) + "\r");
            err.flush();
        }
        width = 0;
    }

    private void show(String line) {
        if (tty) {
            err.print("\r" + line + (line.length() < width ? " ".repeat(width - line.length()) : ""));
            width = line.length();
        } else {
            err.println(line);
        }
        err.flush();
    }
}
