package dev.crmn.model.graph;

import com.fasterxml.jackson.annotation.JsonProperty;
import dev.crmn.model.config.CrmnConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.graph.GraphVertex;
import org.deeplearning4j.nn.conf.graph.LayerVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.FeedForwardLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.Layer;
import org.deeplearning4j.nn.conf.layers.wrapper.BaseWrapperLayer;

/**
 * Per-layer parameter counts and multiply-accumulates (MACs) per image of a CRMN, computed from the graph
 * configuration (no weights are allocated). MACs count convolutions, dense/output layers and the LSTM's
 * matrix products; element-wise work (batch norm, activations, pooling, adds) is not counted, as is usual.
 * {@code params} counts trainable parameters; DL4J also stores each batch norm's running mean and variance
 * as parameters, which {@code paramsTotal} includes.
 */
public record ModelSummary(
        @JsonProperty("name") String name,
        @JsonProperty("params") long params,
        @JsonProperty("params_total") long paramsTotal,
        @JsonProperty("macs") long macs,
        @JsonProperty("layers") List<LayerInfo> layers) {

    /** One vertex of the graph. */
    public record LayerInfo(@JsonProperty("name") String name, @JsonProperty("type") String type,
                            @JsonProperty("output") String output, @JsonProperty("params") long params,
                            @JsonProperty("macs") long macs) {
    }

    /** GFLOP per image (2 FLOP per MAC). */
    public double gflopsPerImage() {
        return 2.0 * macs / 1e9;
    }

    public static ModelSummary of(CrmnConfig cfg) {
        ComputationGraphConfiguration conf = CrmnGraphBuilder.configuration(cfg, GraphOptions.training());
        Map<String, InputType> types = conf.getLayerActivationTypes(
                InputType.convolutional(cfg.height(), cfg.width(), cfg.channels(),
                        org.deeplearning4j.nn.conf.CNN2DFormat.NHWC));
        List<LayerInfo> layers = new ArrayList<>();
        long params = 0, total = 0, macs = 0;
        for (Map.Entry<String, GraphVertex> e : conf.getVertices().entrySet()) { // insertion = build order
            String name = e.getKey();
            GraphVertex v = e.getValue();
            long p = 0, pt = 0, m = 0;
            String type = v.getClass().getSimpleName().replace("Vertex", "");
            InputType out = types.get(name);
            if (v instanceof LayerVertex lv) {
                Layer l = lv.getLayerConf().getLayer();
                if (l instanceof BaseWrapperLayer w) {
                    l = w.getUnderlying();
                }
                type = l.getClass().getSimpleName();
                pt = l.initializer().numParams(l);
                p = l instanceof BatchNormalization ? pt / 2 : pt;
                m = macs(l, out, cfg);
            }
            params += p;
            total += pt;
            macs += m;
            layers.add(new LayerInfo(name, type, describe(out), p, m));
        }
        return new ModelSummary(cfg.shortName(), params, total, macs, layers);
    }

    private static long macs(Layer l, InputType out, CrmnConfig cfg) {
        if (l instanceof ConvolutionLayer c && out instanceof InputType.InputTypeConvolutional o) {
            int[] k = c.getKernelSize();
            return o.getHeight() * o.getWidth() * k[0] * k[1] * c.getNIn() * c.getNOut();
        }
        if (l instanceof LSTM lstm) {
            long steps = cfg.totalBlocks();
            return steps * 4 * (lstm.getNIn() + lstm.getNOut()) * lstm.getNOut();
        }
        if (l instanceof FeedForwardLayer ff && !(l instanceof BatchNormalization)) {
            return ff.getNIn() * ff.getNOut();
        }
        return 0;
    }

    private static String describe(InputType t) {
        if (t instanceof InputType.InputTypeConvolutional c) {
            return c.getHeight() + "x" + c.getWidth() + "x" + c.getChannels();
        }
        if (t instanceof InputType.InputTypeRecurrent r) {
            return r.getSize() + "x" + r.getTimeSeriesLength() + " (seq)";
        }
        if (t instanceof InputType.InputTypeFeedForward f) {
            return Long.toString(f.getSize());
        }
        return String.valueOf(t);
    }

    /** A text table of the layers and the totals. */
    public String toText() {
        StringBuilder sb = new StringBuilder();
        sb.append(String.format("%-14s %-22s %-16s %12s %14s%n", "vertex", "type", "output", "params", "MACs"));
        for (LayerInfo l : layers) {
            sb.append(String.format("%-14s %-22s %-16s %,12d %,14d%n", l.name(), l.type(), l.output(), l.params(), l.macs()));
        }
        sb.append(String.format("%n%s: %,d trainable parameters (%,d with batch-norm statistics), %,d MACs per image"
                + " (%.3f GFLOP)%n", name, params, paramsTotal, macs, gflopsPerImage()));
        return sb.toString();
    }
}
