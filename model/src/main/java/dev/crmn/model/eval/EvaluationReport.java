package dev.crmn.model.eval;

import com.fasterxml.jackson.annotation.JsonProperty;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Classification results on a labelled set.
 *
 * @param images          number of images
 * @param accuracy        top-1 accuracy
 * @param top5            top-5 accuracy (top-k with k = min(5, classes))
 * @param loss            mean cross-entropy
 * @param labels          class names
 * @param perClass        accuracy (recall) per class, in label order
 * @param confusion       confusion[actual][predicted] counts
 * @param predictions     the predicted class of each image, in the set's order (for paired tests of two models on
 *                        the same images; not part of the JSON)
 * @param losses          the cross-entropy of each image, in the set's order (for the paired loss test; not part of
 *                        the JSON)
 */
public record EvaluationReport(
        @JsonProperty("images") int images,
        @JsonProperty("accuracy") double accuracy,
        @JsonProperty("top5") double top5,
        @JsonProperty("loss") double loss,
        @JsonProperty("labels") List<String> labels,
        @JsonProperty("per_class_accuracy") double[] perClass,
        @JsonProperty("confusion_matrix") long[][] confusion,
        @com.fasterxml.jackson.annotation.JsonIgnore int[] predictions,
        @com.fasterxml.jackson.annotation.JsonIgnore double[] losses) {

    /** Per-class accuracy keyed by class name. */
    public Map<String, Double> perClassByName() {
        Map<String, Double> m = new LinkedHashMap<>();
        for (int i = 0; i < labels.size(); i++) {
            m.put(labels.get(i), perClass[i]);
        }
        return m;
    }

    /** A human-readable report: summary, per-class accuracy and the confusion matrix. */
    public String toText() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("images    %d%naccuracy  %.4f%ntop-5     %.4f%nloss      %.4f%n%n", images, accuracy, top5, loss));
        int w = 6;
        for (String l : labels) {
            w = Math.max(w, l.length());
        }
        sb.append("per-class accuracy\n");
        for (int i = 0; i < labels.size(); i++) {
            sb.append(String.format("  %-" + w + "s %.4f%n", labels.get(i), perClass[i]));
        }
        if (labels.size() <= 20) {
            sb.append("\nconfusion matrix (rows: actual, columns: predicted)\n");
            List<String> abbrev = new ArrayList<>();
            for (String l : labels) {
                abbrev.add(l.length() > 5 ? l.substring(0, 5) : l);
            }
            sb.append(String.format("  %-" + w + "s", ""));
            for (String a : abbrev) {
                sb.append(String.format(" %5s", a));
            }
            sb.append('\n');
            for (int i = 0; i < labels.size(); i++) {
                sb.append(String.format("  %-" + w + "s", labels.get(i)));
                for (int j = 0; j < labels.size(); j++) {
                    sb.append(String.format(" %5d", confusion[i][j]));
                }
                sb.append('\n');
            }
        }
        return sb.toString();
    }
}
