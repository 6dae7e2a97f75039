package dev.crmn.model.graph;

import dev.crmn.model.config.CrmnConfig;
import java.util.Map;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.params.BatchNormalizationParamInitializer;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;
import org.nd4j.linalg.ops.transforms.Transforms;

/**
 * Makes a serving copy of a trained CRMN: each batch normalisation that directly follows a convolution
 * ({@code b<i>_bn2} after {@code b<i>_conv1}) is folded into that convolution, which gains a bias:
 * {@code W' = W * gamma / s}, {@code b' = beta - mean * gamma / s} with {@code s = sqrt(var + eps)}.
 * The other batch normalisations (pre-activation ones, which follow an addition) stay. The copy computes
 * the same function in inference mode; it cannot be trained.
 */
public final class BatchNormFolding {

    private BatchNormFolding() {
    }

    /**
     * A copy of {@code trained} (a training graph of {@code cfg}) in the given layout, with batch norm folded
     * if {@code fold}. Weights are stored OIHW in both layouts, so they copy across unchanged. {@code trained}
     * is not changed; the copy shares no memory with it.
     */
    public static ComputationGraph servingCopy(ComputationGraph trained, CrmnConfig cfg, CNN2DFormat layout,
                                               boolean fold) {
        ComputationGraph serving = CrmnGraphBuilder.network(cfg, GraphOptions.training().withLayout(layout)
                .withFoldBatchNorm(fold));
        for (org.deeplearning4j.nn.api.Layer layer : serving.getLayers()) {
            String name = layer.conf().getLayer().getLayerName();
            if (fold && name.matches("b\\d+_conv1")) {
                fold(trained, name, layer);
                continue;
            }
            for (Map.Entry<String, INDArray> p : layer.paramTable().entrySet()) {
                INDArray target = p.getValue();
                target.assign(trained.getLayer(name).getParam(p.getKey()).reshape(target.shape()));
            }
        }
        return serving;
    }

    private static void fold(ComputationGraph trained, String convName, org.deeplearning4j.nn.api.Layer target) {
        String bnName = convName.replace("_conv1", "_bn2");
        org.deeplearning4j.nn.api.Layer bnLayer = trained.getLayer(bnName);
        BatchNormalization bnConf = (BatchNormalization) bnLayer.conf().getLayer();
        INDArray gamma = bnLayer.getParam(BatchNormalizationParamInitializer.GAMMA).reshape(-1);
        INDArray beta = bnLayer.getParam(BatchNormalizationParamInitializer.BETA).reshape(-1);
        INDArray mean = bnLayer.getParam(BatchNormalizationParamInitializer.GLOBAL_MEAN).reshape(-1);
        INDArray std;
        if (bnConf.isUseLogStd()) {
            std = Transforms.pow(Nd4j.valueArrayOf(mean.shape(), 10.0, mean.dataType()),
                    bnLayer.getParam(BatchNormalizationParamInitializer.GLOBAL_LOG_STD).reshape(-1), true);
        } else {
            std = Transforms.sqrt(bnLayer.getParam(BatchNormalizationParamInitializer.GLOBAL_VAR).reshape(-1)
                    .add(bnConf.getEps()), true);
        }
        INDArray scale = gamma.div(std); // [out]
        INDArray w = trained.getLayer(convName).getParam("W"); // [out, in, kh, kw]
        INDArray folded = w.mul(scale.reshape(scale.length(), 1, 1, 1));
        target.getParam("W").assign(folded);
        INDArray bias = beta.sub(mean.mul(scale));
        INDArray b = target.getParam("b");
        b.assign(bias.reshape(b.shape()));
    }
}
