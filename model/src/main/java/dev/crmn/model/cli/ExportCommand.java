package dev.crmn.model.cli;

import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.graph.Graphs;
import dev.crmn.model.infer.OnnxExport;
import dev.crmn.model.infer.ServingWeights;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code crmn export}: a checkpoint for other runtimes (ONNX). */
@Command(name = "export", mixinStandardHelpOptions = true, description = "Export a checkpoint as an ONNX model (opset 13)"
        + " any ONNX runtime can serve: input 'pixels' float32 [N, H, W, C] with values 0-255 (normalisation inside),"
        + " output 'probabilities' [N, classes], metadata labels, model_name, model_version, sha256.")
public final class ExportCommand implements Callable<Integer> {

    @Option(names = "--model", required = true, description = "Checkpoint directory (verified before export).")
    Path model;

    @Option(names = "--format", defaultValue = "onnx", description = "Export format (default: ${DEFAULT-VALUE}; the only one).")
    String format;

    @Option(names = "--out", required = true, description = "File to write (replaced if it exists).")
    Path out;

    @Option(names = "--json", description = "Print one JSON document: model, version, sha256, format, out, bytes, input, output.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        if (!format.toLowerCase(Locale.ROOT).equals("onnx")) {
            throw new IllegalArgumentException("unknown --format '" + format + "' (onnx)");
        }
        Checkpoints.Loaded loaded = Checkpoints.load(model, false);
        Manifest m = loaded.manifest();
        try {
            OnnxExport.write(ServingWeights.of(loaded.network(), m.architecture()), m, out);
        } finally {
            Graphs.free(loaded.network());
        }
        long bytes = Files.size(out);
        var cfg = m.architecture();
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("model", m.name());
            doc.put("version", m.version());
            doc.put("sha256", m.sha256());
            doc.put("format", "onnx");
            doc.put("out", out.toAbsolutePath().toString());
            doc.put("bytes", bytes);
            doc.put("input", Map.of("name", OnnxExport.INPUT, "type", "float32",
                    "shape", List.of("N", cfg.height(), cfg.width(), cfg.channels()), "range", "0-255"));
            doc.put("output", Map.of("name", OnnxExport.OUTPUT, "type", "float32", "shape", List.of("N", cfg.classes())));
            CliSupport.printJson(doc);
        } else {
            System.out.printf("export: %s -> %s (%d bytes, ONNX opset 13); input %s float32 [N, %d, %d, %d] 0-255,"
                            + " output %s [N, %d]%n", m.displayName(), out, bytes, OnnxExport.INPUT, cfg.height(), cfg.width(),
                    cfg.channels(), OnnxExport.OUTPUT, cfg.classes());
        }
        return 0;
    }
}
