package dev.crmn.jobs.inference;

import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.Prediction;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperatorFactory;

/** Creates a {@link MicroBatchInferenceOperator} per subtask, with its mailbox executor. */
public final class MicroBatchInferenceOperatorFactory extends AbstractStreamOperatorFactory<Prediction>
        implements TwoInputStreamOperatorFactory<DecodedFrame, dev.crmn.connectors.format.ModelUpdate, Prediction> {

    private final InferenceSettings settings;

    public MicroBatchInferenceOperatorFactory(InferenceSettings settings) {
        this.settings = settings;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends StreamOperator<Prediction>> T createStreamOperator(StreamOperatorParameters<Prediction> parameters) {
        return (T) new MicroBatchInferenceOperator(parameters, settings);
    }

    @Override
    public Class<? extends StreamOperator<?>> getStreamOperatorClass(ClassLoader classLoader) {
        return MicroBatchInferenceOperator.class;
    }
}
