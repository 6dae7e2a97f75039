package dev.crmn.model.data;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;

/**
 * What a tolerant read of a dataset left out, and why: images that did not decode (by reason) and files
 * that are not images. The tools print {@link #summary()} at the end of a run. Not thread-safe.
 */
public final class Skipped {

    private static final int EXAMPLES = 5;

    private final Map<String, Integer> byReason = new TreeMap<>();
    private final List<String> examples = new ArrayList<>();
    private int notImages;

    /** Records an image that could not be used. */
    public void image(Path file, String reason, String detail) {
        byReason.merge(reason, 1, Integer::sum);
        if (examples.size() < EXAMPLES) {
            examples.add(detail == null ? file.toString() : detail);
        }
    }

    /** Records files that are not images. */
    public void notImages(int n) {
        notImages += n;
    }

    /** Images left out. */
    public int images() {
        return byReason.values().stream().mapToInt(Integer::intValue).sum();
    }

    public int notImages() {
        return notImages;
    }

    /** Counts by reason (reason names in lower case, e.g. {@code corrupt}). */
    public Map<String, Integer> byReason() {
        return Map.copyOf(byReason);
    }

    /** Nothing was left out. */
    public boolean isEmpty() {
        return byReason.isEmpty() && notImages == 0;
    }

    /** One or a few lines for the end of a run; empty when nothing was skipped. */
    public String summary() {
        if (isEmpty()) {
            return "";
        }
        StringBuilder sb = new StringBuilder();
        if (images() > 0) {
            sb.append("skipped ").append(images()).append(" image(s) that could not be decoded ").append(byReason);
            for (String e : examples) {
                sb.append("\n  ").append(e);
            }
            if (images() > examples.size()) {
                sb.append("\n  ...");
            }
        }
        if (notImages > 0) {
            sb.append(sb.length() > 0 ? "\n" : "").append("ignored ").append(notImages)
                    .append(" file(s) that are not .png/.jpg/.jpeg");
        }
        return sb.toString();
    }
}
