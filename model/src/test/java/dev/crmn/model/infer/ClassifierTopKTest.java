package dev.crmn.model.infer;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import org.junit.jupiter.api.Test;

class ClassifierTopKTest {

    static final List<String> LABELS = List.of("a", "b", "c", "d");

    @Test
    void tiesGoToTheLowerClassIndexAndOrderIsByProbability() {
        List<ClassScore> top = Classifier.topK(new float[]{0.2f, 0.3f, 0.3f, 0.2f}, 3, LABELS);
        assertThat(top).extracting(ClassScore::index).containsExactly(1, 2, 0);
        assertThat(top).extracting(ClassScore::label).containsExactly("b", "c", "a");
        assertThat(top.get(0).probability()).isEqualTo(0.3f);
    }

    @Test
    void kAboveTheClassCountReturnsEveryClassOnce() {
        List<ClassScore> top = Classifier.topK(new float[]{0.1f, 0.4f, 0.2f, 0.3f}, 10, LABELS);
        assertThat(top).extracting(ClassScore::index).containsExactly(1, 3, 2, 0);
    }
}
