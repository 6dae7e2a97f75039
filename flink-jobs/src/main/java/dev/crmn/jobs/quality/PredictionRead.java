package dev.crmn.jobs.quality;

import dev.crmn.connectors.format.Prediction;

/** A prediction as the quality job read it: from predictions (the serving version) or from shadow-predictions. */
public record PredictionRead(Prediction prediction, boolean shadow) {
}
