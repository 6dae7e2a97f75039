package dev.crmn.jobs.quality;

/**
 * What the label join hands the tracker for one prediction: a prediction read ({@code counted}), and whether its
 * top class was the label ({@code correct}; null while it has none). A late label that joins a prediction counted
 * earlier comes as {@code counted = false} with its {@code correct}.
 *
 * @param at when the join scored it (ms since the epoch; the tracker's windows use it)
 */
public record Scored(String model, long version, String sha256, boolean counted, Boolean correct, long at) {
}
