package dev.crmn.model.infer;

/** One class of a top-k answer. */
public record ClassScore(int index, String label, float probability) {
}
