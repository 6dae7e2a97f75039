package dev.crmn.jobs.finetune;

import dev.crmn.connectors.format.DecodedFrame;
import dev.crmn.connectors.format.ModelRef;
import org.apache.flink.streaming.api.operators.AbstractStreamOperatorFactory;
import org.apache.flink.streaming.api.operators.ChainingStrategy;
import org.apache.flink.streaming.api.operators.StreamOperator;
import org.apache.flink.streaming.api.operators.StreamOperatorParameters;
import org.apache.flink.streaming.api.operators.TwoInputStreamOperatorFactory;

/** Creates the {@link TrainerOperator} with its mailbox executor. */
public final class TrainerOperatorFactory extends AbstractStreamOperatorFactory<ModelRef>
        implements TwoInputStreamOperatorFactory<DecodedFrame, dev.crmn.connectors.format.ModelUpdate, ModelRef> {

    private final RoundSettings settings;

    public TrainerOperatorFactory(RoundSettings settings) {
        this.settings = settings;
        setChainingStrategy(ChainingStrategy.ALWAYS);
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends StreamOperator<ModelRef>> T createStreamOperator(StreamOperatorParameters<ModelRef> parameters) {
        return (T) new TrainerOperator(parameters, settings);
    }

    @Override
    public Class<? extends StreamOperator<?>> getStreamOperatorClass(ClassLoader classLoader) {
        return TrainerOperator.class;
    }
}
