package dev.crmn.jobs.inference;

import static org.assertj.core.api.Assertions.assertThat;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.ModelStatus;
import dev.crmn.connectors.store.ModelStore;
import java.nio.file.Path;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The version the inference job starts from with {@code --model}, and what the store records about it. */
class InitialModelTest {

    static final Path SHIPPED = Path.of("..", "models", "crmn-demo");

    @TempDir
    Path dir;

    private ModelRef start(ModelStore store, String model) throws Exception {
        Configuration c = new Configuration();
        c.set(InferenceOptions.MODEL, model);
        return InferenceJob.initialModel(c, null, store); // with --model, Kafka is not asked
    }

    @Test
    void aCheckpointDirectoryIsPublishedAndRecordedAsServingOnce() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        ModelRef ref = start(store, SHIPPED.toString());
        assertThat(store.statusHistory(ref)).extracting(ModelStatus.Change::value).containsExactly(ModelStatus.SERVING);
        assertThat(start(store, SHIPPED.toString())).isEqualTo(ref);
        assertThat(store.statusHistory(ref)).as("a restart records nothing again").hasSize(1);
    }

    @Test
    void aPublishedVersionNeverAnnouncedIsRecordedAsServingOneWithAStatusKeepsIt() throws Exception {
        ModelStore store = new ModelStore(dir.resolve("store").toString());
        ModelRef published = store.publish(SHIPPED);
        assertThat(start(store, published.uri())).isEqualTo(published);
        assertThat(store.status(published).orElseThrow().value()).as("what crmn demo's v1 lacked").isEqualTo(ModelStatus.SERVING);

        ModelStore other = new ModelStore(dir.resolve("other").toString());
        ModelRef retired = other.publish(SHIPPED);
        other.recordStatus(retired, ModelStatus.RETIRED, "replaced by v2");
        start(store, retired.uri());
        assertThat(other.status(retired).orElseThrow().value()).as("a status is the deciders' to change")
                .isEqualTo(ModelStatus.RETIRED);
    }
}
