package dev.crmn.model.cli;

import com.fasterxml.jackson.databind.JsonNode;
import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.graph.ModelSummary;
import dev.crmn.model.perf.CpuFastPath;
import dev.crmn.model.infer.OnnxRuntimeNetwork;
import dev.crmn.model.perf.ForwardBench;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import java.util.stream.Collectors;
import java.nio.file.Path;
import picocli.CommandLine;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code crmn bench}: forward images/s per batch size on the fast path (this JVM) and on DL4J's plain path
 * (a child JVM on the plain native build, since the native variant is fixed when ND4J loads), GFLOP/s
 * achieved, ND4J's matrix-multiply GFLOP/s, and optionally the training step.
 */
@Command(name = "bench", mixinStandardHelpOptions = true,
        description = "Benchmark forward (and training) throughput: fast path vs DL4J's plain path, same run.")
public final class BenchCommand implements Callable<Integer> {

    @Option(names = "--preset", defaultValue = "crmn-demo", description = "Preset (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--batches", defaultValue = "1,8,32,64,128", split = ",", description = "Batch sizes (default: ${DEFAULT-VALUE}).")
    int[] batches;

    @Option(names = "--seconds", defaultValue = "4", description = "Timed seconds per measurement (default: ${DEFAULT-VALUE}).")
    double seconds;

    @Option(names = "--no-baseline", description = "Skip the plain-path child JVM.")
    boolean noBaseline;

    @Option(names = "--train", description = "Also measure the training step at --train-batch.")
    boolean train;

    @Option(names = "--train-batch", defaultValue = "64", description = "Batch of the training-step measurement (default: ${DEFAULT-VALUE}).")
    int trainBatch;

    @Option(names = "--peak-gflops", defaultValue = "0",
            description = "CPU FP32 peak (GFLOP/s, from shared/tools/fma-peak.c) to report %% of peak; 0 = omit.")
    double peak;

    @Option(names = "--no-onnxruntime", description = "Skip ONNX Runtime (the same network exported to ONNX, run on its CPU build).")
    boolean noOnnxRuntime;

    @Option(names = "--no-cuda", description = "Skip the CUDA engine (measured where it can run: a build with -Pcuda13 "
            + "on a machine with an NVIDIA GPU).")
    boolean noCuda;

    @Option(names = "--json", description = "Print one JSON document.")
    boolean json;

    @Option(names = "--worker", hidden = true, description = "Internal: measure only this JVM's path, print JSON.")
    boolean worker;

    @Override
    public Integer call() throws Exception {
        CrmnConfig cfg = Presets.get(preset);
        ModelSummary summary = ModelSummary.of(cfg);
        if (worker) {
            CliSupport.printJson(measure(cfg, CpuFastPath.disabledByUser() ? ForwardBench.Path.PLAIN : ForwardBench.Path.FAST));
            return 0;
        }
        JsonNode baseline = noBaseline ? null : runBaselineChild();
        Map<String, Object> fast = measure(cfg, ForwardBench.Path.FAST);
        Map<String, Object> doc = new LinkedHashMap<>();
        doc.put("preset", preset);
        doc.put("architecture", cfg.shortName());
        doc.put("macs", summary.macs());
        doc.put("gflop_per_image", summary.gflopsPerImage());
        doc.put("fast_path", CpuFastPath.status().toString());
        doc.put("omp_num_threads", System.getenv().getOrDefault("OMP_NUM_THREADS", "default"));
        doc.put("matmul_gflops", fast.get("matmul_gflops"));
        if (baseline != null) {
            doc.put("baseline_matmul_gflops", baseline.get("matmul_gflops").asDouble());
        }
        List<ForwardBench.Point> ort = noOnnxRuntime ? null : onnxRuntime(cfg, doc);
        List<ForwardBench.Point> gpu = noCuda ? null : cuda(cfg, doc);
        List<Map<String, Object>> rows = new ArrayList<>();
        @SuppressWarnings("unchecked")
        List<ForwardBench.Point> points = (List<ForwardBench.Point>) fast.get("forward");
        for (int i = 0; i < points.size(); i++) {
            ForwardBench.Point p = points.get(i);
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("batch", p.batch());
            row.put("images_per_s", round(p.imagesPerSecond()));
            row.put("gflops", round(p.imagesPerSecond() * summary.gflopsPerImage()));
            row.put("latency_ms", round(p.medianMillis()));
            if (peak > 0) {
                row.put("percent_of_peak", round(100 * p.imagesPerSecond() * summary.gflopsPerImage() / peak));
            }
            if (baseline != null) {
                double b = baseline.get("forward").get(i).get("images_per_s").asDouble();
                row.put("baseline_images_per_s", round(b));
                row.put("speedup", round(p.imagesPerSecond() / b));
            }
            if (ort != null) {
                row.put("onnxruntime_images_per_s", round(ort.get(i).imagesPerSecond()));
                row.put("vs_onnxruntime", round(p.imagesPerSecond() / ort.get(i).imagesPerSecond()));
            }
            if (gpu != null) {
                row.put("cuda_images_per_s", round(gpu.get(i).imagesPerSecond()));
            }
            rows.add(row);
        }
        doc.put("results", rows);
        if (train) {
            ForwardBench.Point t = (ForwardBench.Point) fast.get("train");
            Map<String, Object> tr = new LinkedHashMap<>();
            tr.put("batch", t.batch());
            tr.put("images_per_s", round(t.imagesPerSecond()));
            tr.put("gflops", round(3 * t.imagesPerSecond() * summary.gflopsPerImage()));
            if (baseline != null) {
                double b = baseline.get("train").get("images_per_s").asDouble();
                tr.put("baseline_images_per_s", round(b));
                tr.put("speedup", round(t.imagesPerSecond() / b));
            }
            doc.put("train", tr);
        }
        if (json) {
            CliSupport.printJson(doc);
        } else {
            printTable(doc, rows);
        }
        return 0;
    }

    /**
     * ONNX Runtime (CPU) on the same network, with as many intra-op threads as ND4J's OpenMP uses here; null (and
     * a note in {@code doc}) when ONNX Runtime is not on the class path.
     */
    private List<ForwardBench.Point> onnxRuntime(CrmnConfig cfg, Map<String, Object> doc) {
        if (!OnnxRuntimeNetwork.available()) {
            doc.put("onnxruntime", "not measured: ONNX Runtime is not on the class path");
            return null;
        }
        List<ForwardBench.Point> points = ForwardBench.forward(cfg, ForwardBench.Path.ONNXRUNTIME, batches, seconds);
        doc.put("onnxruntime", "onnxruntime " + OnnxRuntimeNetwork.version() + " CPU, " + OnnxRuntimeNetwork.defaultThreads()
                + " intra-op thread(s), all graph optimisations");
        return points;
    }

    /**
     * The CUDA engine on the same network; null (and a note in {@code doc} saying why) where it cannot run: not in
     * this build, no CUDA libraries, or no device.
     */
    private List<ForwardBench.Point> cuda(CrmnConfig cfg, Map<String, Object> doc) {
        dev.crmn.model.infer.EngineProvider provider = dev.crmn.model.infer.EngineProvider.find(
                dev.crmn.model.infer.ClassifierOptions.Engine.CUDA);
        String why = provider == null ? dev.crmn.model.infer.ClassifierOptions.NOT_BUILT : provider.unavailable();
        if (why != null) {
            doc.put("cuda", "not measured: " + why);
            return null;
        }
        List<ForwardBench.Point> points = ForwardBench.forward(cfg, ForwardBench.Path.CUDA, batches, seconds);
        doc.put("cuda", "measured (" + dev.crmn.model.infer.ClassifierOptions.Engine.CUDA.wireName()
                + "; CRMN_CUDA_PRECISION=" + System.getenv().getOrDefault("CRMN_CUDA_PRECISION", "tf32") + ")");
        return points;
    }

    private Map<String, Object> measure(CrmnConfig cfg, ForwardBench.Path path) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("path", path.name());
        m.put("status", CpuFastPath.status().toString());
        m.put("matmul_gflops", round(ForwardBench.matmulGflops(1024, Math.min(seconds, 2))));
        m.put("forward", ForwardBench.forward(cfg, path, batches, seconds));
        if (train) {
            m.put("train", ForwardBench.trainStep(cfg, path, trainBatch, seconds * 2));
        }
        return m;
    }

    /** Runs this command's plain-path worker in a child JVM on the plain native build and parses its JSON. */
    private JsonNode runBaselineChild() throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.add("-Xmx4g");
        cmd.add("-D" + CpuFastPath.SWITCH_PROPERTY + "=off");
        cmd.add("-cp");
        cmd.add(System.getProperty("java.class.path"));
        cmd.add(Worker.class.getName());
        cmd.add("--worker");
        cmd.add("--preset=" + preset);
        cmd.add("--batches=" + Arrays.stream(batches).mapToObj(Integer::toString).collect(Collectors.joining(",")));
        cmd.add("--seconds=" + seconds);
        cmd.add("--train-batch=" + trainBatch);
        if (train) {
            cmd.add("--train");
        }
        System.err.println("bench: measuring DL4J's plain path in a child JVM ...");
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.INHERIT).start();
        String out;
        try (InputStream in = p.getInputStream()) {
            out = new String(in.readAllBytes(), StandardCharsets.UTF_8);
        }
        int code = p.waitFor();
        if (code != 0) {
            throw new IOException("baseline child JVM failed with exit code " + code);
        }
        System.err.println("bench: measuring the fast path ...");
        return CliSupport.json().readTree(out);
    }

    private static double round(double v) {
        return Math.round(v * 100) / 100.0;
    }

    private void printTable(Map<String, Object> doc, List<Map<String, Object>> rows) {
        System.out.printf("%s (%s): %.4f GFLOP/image; %s; ND4J matmul %.1f GFLOP/s%n%n", doc.get("preset"),
                doc.get("architecture"), (Double) doc.get("gflop_per_image"), doc.get("fast_path"), (Double) doc.get("matmul_gflops"));
        System.out.printf("%6s %12s %10s %12s %10s %16s %9s %14s %8s %13s%n", "batch", "images/s", "GFLOP/s", "latency ms",
                "% peak", "baseline img/s", "speedup", "onnxrt img/s", "vs ort", "cuda img/s");
        for (Map<String, Object> r : rows) {
            System.out.printf("%6d %12.1f %10.1f %12.2f %10s %16s %9s %14s %8s %13s%n", (Integer) r.get("batch"), (Double) r.get("images_per_s"),
                    (Double) r.get("gflops"), (Double) r.get("latency_ms"),
                    r.containsKey("percent_of_peak") ? String.format("%.1f", (Double) r.get("percent_of_peak")) : "-",
                    r.containsKey("baseline_images_per_s") ? String.format("%.1f", (Double) r.get("baseline_images_per_s")) : "-",
                    r.containsKey("speedup") ? String.format("%.1fx", (Double) r.get("speedup")) : "-",
                    r.containsKey("onnxruntime_images_per_s") ? String.format("%.1f", (Double) r.get("onnxruntime_images_per_s")) : "-",
                    r.containsKey("vs_onnxruntime") ? String.format("%.2fx", (Double) r.get("vs_onnxruntime")) : "-",
                    r.containsKey("cuda_images_per_s") ? String.format("%.1f", (Double) r.get("cuda_images_per_s")) : "-");
        }
        if (doc.containsKey("onnxruntime")) {
            System.out.println("ONNX Runtime: " + doc.get("onnxruntime"));
        }
        if (doc.containsKey("cuda")) {
            System.out.println("CUDA: " + doc.get("cuda"));
        }
        if (doc.containsKey("train")) {
            System.out.println("\ntraining step: " + doc.get("train"));
        }
    }

    /** Entry point of the child JVM; configures the path before ND4J loads. */
    public static final class Worker {
        private Worker() {
        }

        public static void main(String[] args) {
            CpuFastPath.configure();
            System.exit(new CommandLine(new BenchCommand()).execute(args));
        }
    }
}
