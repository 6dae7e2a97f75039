package dev.crmn.model.infer;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.graph.CrmnGraphBuilder;
import dev.crmn.model.graph.GraphOptions;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/** Copies of a trained CRMN graph in another activation layout (NCHW / NHWC). */
public final class LayoutCopy {

    private LayoutCopy() {
    }

    /**
     * A copy of {@code trained} (a training graph of {@code cfg}) in {@code layout}. DL4J stores convolution
     * weights OIHW in both layouts, so every parameter copies across unchanged. {@code trained} is not
     * changed; the copy shares no memory with it.
     */
    public static ComputationGraph of(ComputationGraph trained, CrmnConfig cfg, CNN2DFormat layout) {
        ComputationGraph copy = CrmnGraphBuilder.network(cfg, GraphOptions.training().withLayout(layout));
        for (org.deeplearning4j.nn.api.Layer layer : copy.getLayers()) {
            String name = layer.conf().getLayer().getLayerName();
            for (Map.Entry<String, INDArray> p : layer.paramTable().entrySet()) {
                INDArray target = p.getValue();
                target.assign(trained.getLayer(name).getParam(p.getKey()).reshape(target.shape()));
            }
        }
        return copy;
    }
}
