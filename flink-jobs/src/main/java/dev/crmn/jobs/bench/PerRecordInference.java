package dev.crmn.jobs.bench;

import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.format.Prediction;
import dev.crmn.connectors.format.PredictionJson;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.infer.ClassScore;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import java.nio.file.Path;
import java.util.List;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;

/**
 * The benchmark's "naive" baseline, the pattern peers ship (e.g. the Crayfish benchmark's Flink + DL4J setup): a
 * map function that classifies one record at a time. With {@code plain} it calls DL4J's default
 * {@code ComputationGraph.output()} on the NCHW graph; otherwise the project's serving network at batch 1 (to
 * separate batching from the fast path). Not part of the job jar.
 */
public final class PerRecordInference extends RichMapFunction<DecodedFrame, Prediction> {

    private final String checkpoint;
    private final ModelRef ref;
    private final boolean plain;
    private transient Classifier classifier;

    public PerRecordInference(Path checkpoint, ModelRef ref, boolean plain) {
        this.checkpoint = checkpoint.toString();
        this.ref = ref;
        this.plain = plain;
    }

    @Override
    public void open(OpenContext openContext) throws Exception {
        dev.crmn.jobs.common.TaskSetup.prepare(0, getRuntimeContext().getTaskInfo().getNumberOfParallelSubtasks(),
                "per-record inference");
        classifier = Classifier.of(Checkpoints.load(Path.of(checkpoint), false),
                plain ? ClassifierOptions.plain() : ClassifierOptions.fast());
    }

    @Override
    public Prediction map(DecodedFrame f) {
        long start = System.nanoTime();
        float[] p = classifier.probabilities(List.of(f.image()))[0];
        long now = System.currentTimeMillis();
        List<ClassScore> top = Classifier.topK(p, 3, classifier.labels());
        return new Prediction(PredictionJson.CURRENT_SCHEMA, f.frameId(), f.key(),
                new Prediction.Source(f.topic(), f.partition(), f.offset()), top.toArray(new ClassScore[0]),
                new Prediction.ModelInfo(ref.name(), ref.version(), ref.sha256()), 1,
                new Prediction.Timings(0, (System.nanoTime() - start) / 1e6, Math.max(0, now - f.timestamp())),
                null, f.hasLabel() ? f.label() : null, now);
    }

    @Override
    public void close() {
        if (classifier != null) {
            classifier.close();
        }
    }
}
