package dev.crmn.connectors.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The labels topic's records (docs/wire-format.md, "Labels"): what parses, what is refused in one line. */
class LateLabelTest {

    static final List<String> CLASSES = List.of("airplane", "automobile", "bird", "cat");

    private static byte[] b(String s) {
        return s == null ? null : s.getBytes(StandardCharsets.UTF_8);
    }

    @Test
    void aClassNameOrIndexForAFrameId() throws Exception {
        LateLabel byName = LateLabel.parse(b("cam-1/42"), b("{\"frame_id\": \"cam-1/42\", \"label\": \"Cat\"}"));
        assertThat(byName).isEqualTo(new LateLabel("cam-1/42", "Cat"));
        assertThat(byName.classIndex(CLASSES)).isEqualTo(3);
        assertThat(LateLabel.parse(null, b("{\"frame_id\": \"f\", \"label\": 2}")).classIndex(CLASSES)).isEqualTo(2);
        assertThat(LateLabel.parse(null, b("{\"frame_id\": \"f\", \"label\": \"1\"}")).classIndex(CLASSES)).isEqualTo(1);
        assertThat(LateLabel.parse(b("from-key"), b("{\"label\": \"bird\"}")).frameId()).as("the key when no frame_id")
                .isEqualTo("from-key");
        LateLabel round = LateLabel.parse(null, new LateLabel("x", "cat").toBytes());
        assertThat(round).isEqualTo(new LateLabel("x", "cat"));
    }

    @Test
    void whatIsWrongIsSaidInOneLine() throws Exception {
        assertThatThrownBy(() -> LateLabel.parse(null, b("not json"))).isInstanceOf(IOException.class)
                .hasMessageStartingWith("a label record's value is not JSON");
        assertThatThrownBy(() -> LateLabel.parse(null, b("[1]"))).hasMessageContaining("JSON object");
        assertThatThrownBy(() -> LateLabel.parse(null, b("{\"label\": \"cat\"}"))).hasMessageContaining("frame id");
        assertThatThrownBy(() -> LateLabel.parse(b("a"), b("{\"frame_id\": \"b\", \"label\": \"cat\"}")))
                .hasMessageContaining("differ");
        assertThatThrownBy(() -> LateLabel.parse(null, b("{\"frame_id\": \"f\"}"))).hasMessageContaining("\"label\"");
        assertThatThrownBy(() -> LateLabel.parse(null, b("{\"frame_id\": \"f\", \"label\": 1.5}"))).hasMessageContaining("\"label\"");
        assertThatThrownBy(() -> LateLabel.parse(null, null)).hasMessageContaining("JSON value");
        assertThatThrownBy(() -> LateLabel.parse(null, b("{\"frame_id\": \"f\", \"label\": \"dog\"}")).classIndex(CLASSES))
                .hasMessageContaining("unknown class name 'dog'");
        assertThatThrownBy(() -> LateLabel.parse(null, b("{\"frame_id\": \"f\", \"label\": 7}")).classIndex(CLASSES))
                .hasMessageContaining("outside 0..3");
        for (String bad : List.of("not json", "{\"label\": \"cat\"}", "{\"frame_id\": \"f\"}")) {
            assertThatThrownBy(() -> LateLabel.parse(null, b(bad))).satisfies(e -> assertThat(e.getMessage()).doesNotContain("\n"));
        }
    }
}
