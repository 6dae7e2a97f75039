package dev.crmn.model.graph;

import dev.crmn.model.config.CrmnConfig;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.conf.ComputationGraphConfiguration;
import org.deeplearning4j.nn.conf.ConvolutionMode;
import org.deeplearning4j.nn.conf.NeuralNetConfiguration;
import org.deeplearning4j.nn.conf.RNNFormat;
import org.deeplearning4j.nn.conf.graph.ElementWiseVertex;
import org.deeplearning4j.nn.conf.graph.MergeVertex;
import org.deeplearning4j.nn.conf.graph.ReshapeVertex;
import org.deeplearning4j.nn.conf.inputs.InputType;
import org.deeplearning4j.nn.conf.layers.ActivationLayer;
import org.deeplearning4j.nn.conf.layers.BatchNormalization;
import org.deeplearning4j.nn.conf.layers.ConvolutionLayer;
import org.deeplearning4j.nn.conf.layers.DenseLayer;
import org.deeplearning4j.nn.conf.layers.DropoutLayer;
import org.deeplearning4j.nn.conf.layers.GlobalPoolingLayer;
import org.deeplearning4j.nn.conf.layers.LSTM;
import org.deeplearning4j.nn.conf.layers.OutputLayer;
import org.deeplearning4j.nn.conf.layers.PoolingType;
import org.deeplearning4j.nn.conf.layers.recurrent.LastTimeStep;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.deeplearning4j.nn.weights.WeightInit;
import org.nd4j.linalg.activations.Activation;
import org.nd4j.linalg.api.buffer.DataType;
import org.nd4j.linalg.learning.config.Nesterovs;
import org.nd4j.linalg.lossfunctions.LossFunctions;

/**
 * Builds the DL4J {@link ComputationGraphConfiguration} of a CRMN (or plain WRN) from a {@link CrmnConfig}.
 *
 * <p>Vertex names are part of the checkpoint format and of the tests: {@code input}; {@code stem};
 * per residual block {@code i} (1-based, depth order) {@code b<i>_bn1, b<i>_relu1, b<i>_conv1, b<i>_bn2,
 * b<i>_relu2, [b<i>_drop], b<i>_conv2, [b<i>_short], b<i>} (the block output, an element-wise add);
 * {@code final_bn, final_relu, final_pool}; with memory {@code m<i>_pool, m<i>_proj, mem_steps, mem_seq,
 * memory, fuse}; and {@code output}.
 *
 * <p>The memory: {@code m<i>_pool} mean-pools block {@code i}'s output over space, {@code m<i>_proj}
 * projects it to {@code memory_input_size}; {@code mem_steps} concatenates the projections and
 * {@code mem_seq} reshapes them ('f' order) to an NCW sequence {@code [mb, F, T]} whose step {@code t} is
 * block {@code t+1}; {@code memory} is an LSTM that returns its last hidden state.
 */
public final class CrmnGraphBuilder {

    public static final String INPUT = "input";
    public static final String OUTPUT = "output";
    public static final String MEMORY = "memory";
    public static final String MEMORY_SEQUENCE = "mem_seq";
    public static final String FINAL_POOL = "final_pool";

    private final CrmnConfig cfg;
    private final GraphOptions opts;
    private final CNN2DFormat fmt;
    private ComputationGraphConfiguration.GraphBuilder g;

    private CrmnGraphBuilder(CrmnConfig cfg, GraphOptions opts) {
        this.cfg = cfg;
        this.opts = opts;
        this.fmt = opts.layout();
    }

    /** The graph configuration for {@code cfg} materialised as {@code opts} says. */
    public static ComputationGraphConfiguration configuration(CrmnConfig cfg, GraphOptions opts) {
        return new CrmnGraphBuilder(cfg, opts).build();
    }

    /** A freshly initialised network. */
    public static ComputationGraph network(CrmnConfig cfg, GraphOptions opts) {
        ComputationGraph net = new ComputationGraph(configuration(cfg, opts));
        net.init();
        return net;
    }

    /** Name of block {@code i}'s output vertex (1-based). */
    public static String block(int i) {
        return "b" + i;
    }

    /** Name of block {@code i}'s projected memory vector (1-based). */
    public static String memoryStep(int i) {
        return "m" + i + "_proj";
    }

    /** Name of block {@code i}'s pooled vector (1-based). */
    public static String blockPool(int i) {
        return "m" + i + "_pool";
    }

    private ComputationGraphConfiguration build() {
        g = new NeuralNetConfiguration.Builder()
                .seed(opts.seed())
                .dataType(DataType.FLOAT)
                .updater(new Nesterovs(opts.learningRate(), opts.momentum()))
                .weightDecay(opts.weightDecay(), true)
                .weightInit(WeightInit.RELU)
                .convolutionMode(ConvolutionMode.Same)
                .graphBuilder()
                .addInputs(INPUT)
                .setInputTypes(InputType.convolutional(cfg.height(), cfg.width(), cfg.channels(), fmt));

        g.addLayer("stem", conv(16, 3, 1, false), INPUT);
        String x = "stem";
        int in = 16;
        List<String> blocks = new ArrayList<>();
        int index = 0;
        for (int stage = 0; stage < 3; stage++) {
            int out = cfg.stageWidth(stage);
            for (int j = 0; j < cfg.blocksPerStage(); j++) {
                int stride = (stage > 0 && j == 0) ? 2 : 1;
                x = residualBlock(++index, x, in, out, stride);
                blocks.add(x);
                in = out;
            }
        }
        g.addLayer("final_bn", bn(), x);
        g.addLayer("final_relu", relu(), "final_bn");
        g.addLayer(FINAL_POOL, avgPool(), "final_relu");

        String features = FINAL_POOL;
        int featureSize = cfg.stageWidth(2);
        if (cfg.memory()) {
            features = memory(blocks);
            featureSize = cfg.fusion() == CrmnConfig.Fusion.CONCAT ? featureSize + cfg.lstmSize() : featureSize;
        }
        g.addLayer(OUTPUT, new OutputLayer.Builder(LossFunctions.LossFunction.MCXENT)
                .nIn(featureSize).nOut(cfg.classes())
                .activation(Activation.SOFTMAX).weightInit(WeightInit.XAVIER).build(), features);
        g.setOutputs(OUTPUT);
        return g.build();
    }

    /** Pre-activation basic block; returns the name of its output (the residual add). */
    private String residualBlock(int i, String x, int in, int out, int stride) {
        String p = "b" + i + "_";
        g.addLayer(p + "bn1", bn(), x);
        g.addLayer(p + "relu1", relu(), p + "bn1");
        boolean project = in != out || stride != 1;
        // WRN: a projecting shortcut reads the pre-activated input; an identity shortcut the raw input.
        String shortcut = x;
        if (project) {
            g.addLayer(p + "short", conv(out, 1, stride, false), p + "relu1");
            shortcut = p + "short";
        }
        g.addLayer(p + "conv1", conv(out, 3, stride, false), p + "relu1");
        g.addLayer(p + "bn2", bn(), p + "conv1");
        g.addLayer(p + "relu2", relu(), p + "bn2");
        String conv2In = p + "relu2";
        if (cfg.dropout() > 0) {
            // DL4J's dropout argument is the retain probability.
            g.addLayer(p + "drop", new DropoutLayer.Builder(1.0 - cfg.dropout()).build(), conv2In);
            conv2In = p + "drop";
        }
        g.addLayer(p + "conv2", conv(out, 3, 1, false), conv2In);
        String name = block(i);
        g.addVertex(name, new ElementWiseVertex(ElementWiseVertex.Op.Add), p + "conv2", shortcut);
        return name;
    }

    private String memory(List<String> blocks) {
        memorySequence(blocks);
        int f = cfg.memoryInputSize();
        g.addLayer(MEMORY, new LastTimeStep(new LSTM.Builder().nIn(f).nOut(cfg.lstmSize())
                .activation(Activation.TANH).weightInit(WeightInit.XAVIER).dataFormat(RNNFormat.NCW).build()),
                MEMORY_SEQUENCE);
        if (cfg.fusion() == CrmnConfig.Fusion.SUM) {
            g.addVertex("fuse", new ElementWiseVertex(ElementWiseVertex.Op.Add), FINAL_POOL, MEMORY);
        } else {
            g.addVertex("fuse", new MergeVertex(), FINAL_POOL, MEMORY);
        }
        return "fuse";
    }

    /** The per-block pooled, projected vectors as an NCW sequence {@code mem_seq}. */
    private void memorySequence(List<String> blocks) {
        int steps = blocks.size();
        int f = cfg.memoryInputSize();
        String[] projected = new String[steps];
        for (int t = 0; t < steps; t++) {
            int i = t + 1;
            int width = cfg.stageWidth(t / cfg.blocksPerStage());
            g.addLayer(blockPool(i), avgPool(), blocks.get(t));
            g.addLayer(memoryStep(i), new DenseLayer.Builder().nIn(width).nOut(f).hasBias(false)
                    .activation(cfg.memoryInput() == CrmnConfig.MemoryInput.RELU ? Activation.RELU : Activation.IDENTITY)
                    .weightInit(WeightInit.XAVIER).build(), blockPool(i));
            projected[t] = memoryStep(i);
        }
        // [mb, T*F] (block t at columns t*F..t*F+F-1) -> 'f'-order reshape -> NCW [mb, F, T]: step t = block t+1.
        g.addVertex("mem_steps", new MergeVertex(), projected);
        g.addVertex(MEMORY_SEQUENCE, new ReshapeVertex('f', new int[]{-1, f, steps}, null), "mem_steps");
    }

    private ConvolutionLayer conv(int out, int kernel, int stride, boolean bias) {
        return new ConvolutionLayer.Builder(kernel, kernel).stride(stride, stride).nOut(out)
                .hasBias(bias).dataFormat(fmt).activation(Activation.IDENTITY).build();
    }

    private BatchNormalization bn() {
        return new BatchNormalization.Builder().dataFormat(fmt).decay(0.9).eps(1e-5).build();
    }

    private static ActivationLayer relu() {
        return new ActivationLayer.Builder().activation(Activation.RELU).build();
    }

    private static GlobalPoolingLayer avgPool() {
        return new GlobalPoolingLayer.Builder(PoolingType.AVG).build();
    }
}
