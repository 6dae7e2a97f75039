package dev.crmn.model.infer;

import com.fasterxml.jackson.databind.ObjectMapper;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.data.Normalization;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.List;
import onnx.Onnx;
import org.nd4j.shade.protobuf.ByteString;

/**
 * The CRMN as an ONNX model (opset 13, IR version 7) built from {@link ServingWeights}, so that any ONNX runtime
 * (ONNX Runtime, Triton, TensorRT) serves the same checkpoint without reading this project's docs:
 * <ul>
 *   <li>input {@code pixels}: float32 {@code [N, H, W, C]}, values 0–255 (the normalisation is in the graph);</li>
 *   <li>output {@code probabilities}: float32 {@code [N, classes]};</li>
 *   <li>metadata properties {@code labels} (a JSON array of the class names), {@code model_name},
 *       {@code model_version}, {@code sha256} (of the source checkpoint).</li>
 * </ul>
 * Convolutions run in NCHW with explicit SAME padding (extra at the end), batch norms as per-channel multiply-add,
 * the memory as one {@code LSTM} node (gate blocks reordered to ONNX's input, output, forget, cell).
 */
public final class OnnxExport {

    public static final String INPUT = "pixels";
    public static final String OUTPUT = "probabilities";
    /** This description's gate blocks (input, forget, cell, output) → ONNX's (input, output, forget, cell). */
    static final int[] ONNX_GATES = {0, 3, 1, 2};

    private final List<Onnx.NodeProto> nodes = new ArrayList<>();
    private final List<Onnx.TensorProto> initializers = new ArrayList<>();
    private int counter;

    private OnnxExport() {
    }

    /** Writes the ONNX model of {@code weights} (described by {@code manifest}) to {@code out}, atomically. */
    public static void write(ServingWeights weights, Manifest manifest, Path out) throws IOException {
        Path abs = out.toAbsolutePath();
        Files.createDirectories(abs.getParent());
        Path tmp = Files.createTempFile(abs.getParent(), ".export-", ".onnx");
        try {
            Files.write(tmp, toBytes(weights, manifest));
            Files.move(tmp, abs, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** The serialized ONNX {@code ModelProto}. */
    public static byte[] toBytes(ServingWeights weights, Manifest manifest) throws IOException {
        return new OnnxExport().model(weights, manifest.normalization(), manifest.labels(), manifest.name(),
                manifest.version(), manifest.sha256() == null ? "" : manifest.sha256()).toByteArray();
    }

    /**
     * The network alone for an engine that feeds it already normalised input (the serving path's own input:
     * {@code pixels} is then float32 {@code [N, H, W, C]} normalised as the manifest says, not 0–255).
     */
    public static byte[] servingBytes(ServingWeights weights) throws IOException {
        List<String> labels = new ArrayList<>();
        for (int i = 0; i < weights.config().classes(); i++) {
            labels.add(Integer.toString(i));
        }
        return new OnnxExport().model(weights, null, labels, "serving", 0, "").toByteArray();
    }


    private Onnx.ModelProto model(ServingWeights sw, Normalization norm, List<String> labels, String modelName, long version,
                                  String sha256) throws IOException {
        CrmnConfig cfg = sw.config();
        String x = INPUT;
        if (norm != null) {
            int c = cfg.channels();
            float[] scale = new float[c];
            float[] shift = new float[c];
            for (int i = 0; i < c; i++) {
                scale[i] = 1f / (255f * norm.std()[i]);
                shift[i] = -norm.mean()[i] / norm.std()[i];
            }
            x = op("Add", List.of(op("Mul", List.of(INPUT, tensor(scale, c))), tensor(shift, c)));
        }
        x = op("Transpose", List.of(x), ints("perm", 0, 3, 1, 2)); // NHWC -> NCHW
        int[] hw = {cfg.height(), cfg.width()};
        String y = conv(x, sw.stem(), hw);
        List<String> steps = new ArrayList<>();
        for (int t = 0; t < sw.blocks().size(); t++) {
            ServingWeights.Block b = sw.blocks().get(t);
            String a = affineRelu(y, b.bn1());
            int[] in = hw.clone();
            String shortcut = b.shortcut() == null ? y : conv(a, b.shortcut(), in.clone());
            String mid = op("Relu", List.of(conv(a, b.conv1(), hw)));
            y = op("Add", List.of(conv(mid, b.conv2(), hw.clone()), shortcut));
            if (sw.lstm() != null) {
                float[][] p = sw.projections().get(t);
                String pooled = op("ReduceMean", List.of(y), ints("axes", 2, 3), attr("keepdims", 0));
                String step = op("MatMul", List.of(pooled, matrix(p)));
                steps.add(op("Unsqueeze", List.of(step, int64("axes", 0))));
            }
        }
        String features = op("ReduceMean", List.of(affineRelu(y, sw.finalBn())), ints("axes", 2, 3), attr("keepdims", 0));
        if (sw.lstm() != null) {
            String sequence = op("Concat", steps, attr("axis", 0)); // [T, N, memoryInput]
            if (cfg.memoryInput() == CrmnConfig.MemoryInput.RELU) {
                sequence = op("Relu", List.of(sequence));
            }
            String h = lstmLastHidden(sequence, sw.lstm());
            features = cfg.fusion() == CrmnConfig.Fusion.SUM ? op("Add", List.of(features, h))
                    : op("Concat", List.of(features, h), attr("axis", 1));
        }
        String logits = op("Add", List.of(op("MatMul", List.of(features, matrix(sw.output()))),
                tensor(sw.outputBias(), sw.outputBias().length)));
        nodes.add(Onnx.NodeProto.newBuilder().setOpType("Softmax").setName("softmax").addInput(logits).addOutput(OUTPUT)
                .addAttribute(attr("axis", 1)).build());

        Onnx.GraphProto graph = Onnx.GraphProto.newBuilder().setName(modelName).addAllNode(nodes)
                .addAllInitializer(initializers)
                .addInput(value(INPUT, "N", cfg.height(), cfg.width(), cfg.channels()))
                .addOutput(value(OUTPUT, "N", cfg.classes())).build();
        return Onnx.ModelProto.newBuilder().setIrVersion(7).setProducerName("crmn-flink").setProducerVersion("0.1.0")
                .addOpsetImport(Onnx.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13))
                .setGraph(graph)
                .addMetadataProps(meta("labels", new ObjectMapper().writeValueAsString(labels)))
                .addMetadataProps(meta("model_name", modelName))
                .addMetadataProps(meta("model_version", Long.toString(version)))
                .addMetadataProps(meta("sha256", sha256))
                .build();
    }

    /** A convolution with explicit SAME padding; {@code hw} is the input's spatial size and becomes the output's. */
    private String conv(String x, ServingWeights.Conv c, int[] hw) {
        long[] pads = new long[4];
        for (int d = 0; d < 2; d++) {
            int out = (hw[d] + c.stride() - 1) / c.stride();
            int total = Math.max((out - 1) * c.stride() + c.kernel() - hw[d], 0);
            pads[d] = total / 2;
            pads[d + 2] = total - total / 2;
            hw[d] = out;
        }
        List<String> in = new ArrayList<>(List.of(x, tensor(c.weights(), c.out(), c.in(), c.kernel(), c.kernel())));
        if (c.bias() != null) {
            in.add(tensor(c.bias(), c.out()));
        }
        return op("Conv", in, ints("kernel_shape", c.kernel(), c.kernel()), ints("strides", c.stride(), c.stride()),
                ints("pads", pads));
    }

    private String affineRelu(String x, ServingWeights.Affine a) {
        int c = a.scale().length;
        return op("Relu", List.of(op("Add", List.of(op("Mul", List.of(x, tensor(a.scale(), 1, c, 1, 1))),
                tensor(a.shift(), 1, c, 1, 1)))));
    }

    /** The LSTM's last hidden state {@code [N, hidden]} over {@code sequence [T, N, in]}. */
    private String lstmLastHidden(String sequence, ServingWeights.Lstm lstm) {
        int hidden = lstm.hidden();
        float[][] w = ServingWeights.gateBlocks(lstm.input(), ONNX_GATES);      // [in][4H]
        float[][] r = ServingWeights.gateBlocks(lstm.recurrent(), ONNX_GATES);  // [H][4H]
        float[] b = ServingWeights.gateBlocks(new float[][]{lstm.bias()}, ONNX_GATES)[0];
        float[] bias = new float[8 * hidden]; // Wb then Rb; the recurrent bias is zero
        System.arraycopy(b, 0, bias, 0, b.length);
        String yh = name("lstm_h");
        nodes.add(Onnx.NodeProto.newBuilder().setOpType("LSTM").setName(name("lstm"))
                .addInput(sequence).addInput(tensor(transpose(w), 1, 4 * hidden, w.length))
                .addInput(tensor(transpose(r), 1, 4 * hidden, hidden)).addInput(tensor(bias, 1, 8 * hidden))
                .addOutput("").addOutput(yh)
                .addAttribute(attr("hidden_size", hidden)).build());
        return op("Squeeze", List.of(yh, int64("axes", 0))); // [1, N, H] -> [N, H]
    }

    private static float[] transpose(float[][] m) {
        int rows = m.length;
        int cols = m[0].length;
        float[] t = new float[rows * cols];
        for (int i = 0; i < rows; i++) {
            for (int j = 0; j < cols; j++) {
                t[j * rows + i] = m[i][j];
            }
        }
        return t;
    }

    private String op(String type, List<String> inputs, Onnx.AttributeProto... attributes) {
        String out = name(type.toLowerCase());
        Onnx.NodeProto.Builder n = Onnx.NodeProto.newBuilder().setOpType(type).setName(out).addAllInput(inputs).addOutput(out);
        for (Onnx.AttributeProto a : attributes) {
            n.addAttribute(a);
        }
        nodes.add(n.build());
        return out;
    }

    private String name(String prefix) {
        return prefix + "_" + (counter++);
    }

    private String matrix(float[][] m) {
        float[] flat = new float[m.length * m[0].length];
        for (int i = 0; i < m.length; i++) {
            System.arraycopy(m[i], 0, flat, i * m[0].length, m[0].length);
        }
        return tensor(flat, m.length, m[0].length);
    }

    private String tensor(float[] values, long... dims) {
        String name = name("w");
        ByteBuffer buf = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        buf.asFloatBuffer().put(values);
        Onnx.TensorProto.Builder t = Onnx.TensorProto.newBuilder().setName(name)
                .setDataType(Onnx.TensorProto.DataType.FLOAT.getNumber()).setRawData(ByteString.copyFrom(buf.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        initializers.add(t.build());
        return name;
    }

    /** An int64 tensor input (Unsqueeze/Squeeze take their axes as an input from opset 13). */
    private String int64(String prefix, long... values) {
        String name = name(prefix);
        ByteBuffer buf = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        buf.asLongBuffer().put(values);
        initializers.add(Onnx.TensorProto.newBuilder().setName(name).setDataType(Onnx.TensorProto.DataType.INT64.getNumber())
                .addDims(values.length).setRawData(ByteString.copyFrom(buf.array())).build());
        return name;
    }

    /** An INT attribute. */
    private static Onnx.AttributeProto attr(String name, long value) {
        return Onnx.AttributeProto.newBuilder().setName(name).setType(Onnx.AttributeProto.AttributeType.INT).setI(value).build();
    }

    /** An INTS attribute. */
    private static Onnx.AttributeProto ints(String name, long... values) {
        Onnx.AttributeProto.Builder a = Onnx.AttributeProto.newBuilder().setName(name)
                .setType(Onnx.AttributeProto.AttributeType.INTS);
        for (long v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    private static Onnx.ValueInfoProto value(String name, String batch, long... dims) {
        Onnx.TensorShapeProto.Builder shape = Onnx.TensorShapeProto.newBuilder()
                .addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimParam(batch));
        for (long d : dims) {
            shape.addDim(Onnx.TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return Onnx.ValueInfoProto.newBuilder().setName(name).setType(Onnx.TypeProto.newBuilder().setTensorType(
                Onnx.TypeProto.Tensor.newBuilder().setElemType(Onnx.TensorProto.DataType.FLOAT.getNumber()).setShape(shape)))
                .build();
    }

    private static Onnx.StringStringEntryProto meta(String key, String value) {
        return Onnx.StringStringEntryProto.newBuilder().setKey(key).setValue(value).build();
    }
}
