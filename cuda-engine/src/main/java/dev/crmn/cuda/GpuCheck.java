package dev.crmn.cuda;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.infer.ReferenceFile;
import dev.crmn.model.infer.ServingWeights;
import dev.crmn.model.infer.ServingWeightsFile;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * The GPU check (cuda-engine/gpu-check/README.md): on a machine with an NVIDIA GPU, prints the device and library
 * versions, checks the CUDA engine's probabilities against the CPU reference shipped with it, and measures
 * images/s per batch size, writing JSON.
 *
 * <pre>
 * GpuCheck --precision fp32|tf32 --out RESULT.json [--reference NAME.reference --weights NAME.weights]...
 *          [--bench NAME.weights|preset:NAME]... [--batches 1,64,256,1024] [--tolerance 1e-4]
 * </pre>
 * Exit status 0 when every comparison is within the tolerance, 1 when one is not, 2 on a usage error, 3 when
 * the CUDA libraries or a device are missing.
 */
public final class GpuCheck {

    private GpuCheck() {
    }

    public static void main(String[] args) throws Exception {
        String precisionName = "tf32";
        Path out = null;
        List<String[]> compare = new ArrayList<>();
        List<String> bench = new ArrayList<>();
        int[] batches = {1, 64, 256, 1024};
        double tolerance = 1e-4;
        double seconds = 1.5;
        boolean kinds = false;
        int swaps = 0;
        String[] layouts = {"nchw"};
        String pendingReference = null;
        for (int i = 0; i < args.length; i++) {
            String v = i + 1 < args.length ? args[i + 1] : null;
            switch (args[i]) {
                case "--precision" -> precisionName = args[++i];
                case "--out" -> out = Path.of(args[++i]);
                case "--reference" -> pendingReference = args[++i];
                case "--weights" -> {
                    compare.add(new String[]{pendingReference, v});
                    i++;
                }
                case "--bench" -> bench.add(args[++i]);
                case "--kinds" -> kinds = true;
                case "--swaps" -> swaps = Integer.parseInt(args[++i]);
                case "--layouts" -> layouts = args[++i].toLowerCase(Locale.ROOT).split(",");
                case "--batches" -> batches = Arrays.stream(args[++i].split(",")).mapToInt(Integer::parseInt).toArray();
                case "--tolerance" -> tolerance = Double.parseDouble(args[++i]);
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                default -> {
                    System.err.println("gpu-check: unknown argument " + args[i]);
                    System.exit(2);
                }
            }
        }
        CudaEngine.Precision precision = CudaEngine.Precision.valueOf(precisionName.toUpperCase(Locale.ROOT));
        Cuda.Device device;
        try {
            device = Cuda.device(0);
        } catch (Cuda.CudaException e) {
            System.err.println("gpu-check: " + e.getMessage());
            System.exit(3);
            return;
        }
        System.out.println("device: " + device.describe());
        System.out.println("precision: " + precision + (System.getenv("NVIDIA_TF32_OVERRIDE") == null ? ""
                : " (NVIDIA_TF32_OVERRIDE=" + System.getenv("NVIDIA_TF32_OVERRIDE") + ")"));
        StringBuilder json = new StringBuilder();
        json.append("{\n  \"device\": ").append(str(device.name())).append(",\n  \"compute_capability\": ")
                .append(str(device.major() + "." + device.minor())).append(",\n  \"driver_cuda\": ")
                .append(str(Cuda.Device.cudaVersion(device.driverVersion()))).append(",\n  \"runtime_cuda\": ")
                .append(str(Cuda.Device.cudaVersion(device.runtimeVersion()))).append(",\n  \"cudnn\": ")
                .append(device.cudnnVersion()).append(",\n  \"cublas\": ").append(device.cublasVersion())
                .append(",\n  \"precision\": ").append(str(precision.name().toLowerCase(Locale.ROOT)))
                .append(",\n  \"tf32_override\": ").append(str(String.valueOf(System.getenv("NVIDIA_TF32_OVERRIDE"))))
                .append(",\n  \"comparisons\": [");
        boolean allPass = true;
        List<String> results = new ArrayList<>();
        final double tol = tolerance;
        final Cuda.Device dev = device;
        for (String layout : layouts) {
            boolean nhwc = layout.equals("nhwc");
            for (String[] c : compare) {
                ReferenceFile ref = ReferenceFile.read(Path.of(c[0]));
                ServingWeights sw = ServingWeightsFile.read(Path.of(c[1]));
                results.add(guarded(() -> compare(sw, ref, dev, precision, nhwc, tol, c[1]), c[1], layout));
            }
            if (kinds) {
                for (String variant : new String[]{"wrn-tiny", "crmn-tiny", "crmn-tiny-sum-relu"}) {
                    results.add(guarded(() -> compareKind(variant, dev, precision, nhwc, tol), variant, layout));
                }
            }
        }
        for (String r : results) {
            allPass &= r.contains("\"pass\": true");
            json.append(r == results.get(0) ? "\n    " : ",\n    ").append(r);
        }
        json.append("\n  ],\n  \"swaps\": ");
        if (swaps > 0 && !compare.isEmpty()) {
            String result = swaps(ServingWeightsFile.read(Path.of(compare.get(0)[1])), device, precision, swaps);
            allPass &= result.contains("\"flat\": true");
            json.append(result);
        } else {
            json.append("null");
        }
        json.append(",\n  \"benchmarks\": [");
        boolean first = true;
        for (String b : bench) {
            ServingWeights sw = b.startsWith("preset:") ? ServingWeights.random(Presets.get(b.substring(7)), 42)
                    : ServingWeightsFile.read(Path.of(b));
            String model = b.startsWith("preset:") ? b.substring(7) + " (random weights)"
                    : Path.of(b).getFileName().toString().replace(".weights", "");
            for (String layout : layouts) {
                // channels-first eager and with graphs; channels-last with graphs (what it would be used with)
                for (boolean graphs : layout.equals("nhwc") ? new boolean[]{true} : new boolean[]{false, true}) {
                    try (CudaEngine engine = CudaEngine.open(sw, 0, precision, graphs, layout.equals("nhwc"))) {
                        for (int batch : batches) {
                            String row = bench(engine, model, batch, seconds);
                            json.append(first ? "\n    " : ",\n    ").append(row);
                            first = false;
                        }
                    } catch (RuntimeException e) {
                        System.out.println("bench " + model + " " + layout + ": FAIL: " + e.getMessage());
                        allPass = false;
                    }
                }
            }
        }
        json.append("\n  ]\n}\n");
        if (out != null) {
            Files.writeString(out, json);
            System.out.println("wrote " + out);
        }
        System.exit(allPass ? 0 : 1);
    }

    /** The engine's probabilities for the reference images, in batches of several sizes, against the CPU's. */
    private static String compare(ServingWeights sw, ReferenceFile ref, Cuda.Device device,
                                  CudaEngine.Precision precision, boolean nhwc, double tolerance, String name) {
        int pixels = ref.height() * ref.width() * ref.channels();
        double maxDiff = 0;
        int agree = 0;
        int correct = 0;
        String graphsOff;
        try (CudaEngine engine = CudaEngine.open(sw, device.index(), precision, true, nhwc)) {
            int done = 0;
            int[] sizes = {1, 7, 64, 100};
            for (int k = 0; done < ref.n(); k++) {
                int rows = Math.min(sizes[k % sizes.length], ref.n() - done);
                float[] x = Arrays.copyOfRange(ref.nhwc(), done * pixels, (done + rows) * pixels);
                float[][] p = engine.probabilities(x, rows);
                for (int i = 0; i < rows; i++) {
                    float[] expected = ref.probabilities()[done + i];
                    for (int j = 0; j < expected.length; j++) {
                        double d = Math.abs(p[i][j] - expected[j]);
                        maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(maxDiff, d);
                    }
                    agree += argmax(p[i]) == argmax(expected) ? 1 : 0;
                    correct += argmax(p[i]) == ref.labels()[done + i] ? 1 : 0;
                }
                done += rows;
            }
            graphsOff = engine.graphsOff();
        }
        boolean pass = maxDiff <= tolerance && graphsOff == null;
        System.out.printf(Locale.ROOT, "compare %s (%s, %s): %d images, largest |p_gpu - p_cpu| = %.3g (tolerance %.0e), "
                        + "top-1 agreement %d/%d, accuracy %.2f %%: %s%n", name, layout(nhwc),
                graphsOff == null ? "eager, then CUDA graphs" : "eager only: " + graphsOff, ref.n(), maxDiff, tolerance, agree,
                ref.n(), 100.0 * correct / ref.n(), pass ? "PASS" : "FAIL");
        return String.format(Locale.ROOT, "{\"model\": %s, \"layout\": %s, \"images\": %d, \"max_abs_diff\": %.6g, "
                        + "\"tolerance\": %.1e, \"top1_agreement\": %d, \"accuracy\": %.4f, \"pass\": %b}",
                str(Path.of(name).getFileName().toString()), str(layout(nhwc)), ref.n(), maxDiff, tolerance, agree,
                (double) correct / ref.n(), pass);
    }

    /**
     * The engine against the plain-Java reference executor ({@code ReferenceOps}) on random weights of one kind of
     * network (WRN; CRMN with concatenation; CRMN with sum fusion and ReLU memory input), random images, batches
     * of 3 and 70 (padded to 128), each run twice (eager, then replayed as a graph).
     */
    private static String compareKind(String variant, Cuda.Device device, CudaEngine.Precision precision,
                                      boolean nhwc, double tolerance) {
        CrmnConfig cfg = variant.equals("crmn-tiny-sum-relu")
                ? Presets.get("crmn-tiny").toBuilder().lstmSize(64).fusion(CrmnConfig.Fusion.SUM)
                        .memoryInput(CrmnConfig.MemoryInput.RELU).build()
                : Presets.get(variant);
        ServingWeights sw = ServingWeights.random(cfg, 7);
        int pixels = cfg.height() * cfg.width() * cfg.channels();
        Random rnd = new Random(3);
        double maxDiff = 0;
        try (CudaEngine engine = CudaEngine.open(sw, device.index(), precision, true, nhwc)) {
            for (int n : new int[]{3, 70}) {
                float[] x = new float[n * pixels];
                for (int i = 0; i < x.length; i++) {
                    x[i] = (float) rnd.nextGaussian();
                }
                float[][] expected = dev.crmn.model.infer.plan.ReferenceOps.probabilities(sw, x, n);
                for (int repeat = 0; repeat < 2; repeat++) {
                    float[][] p = engine.probabilities(x, n);
                    for (int i = 0; i < n; i++) {
                        for (int j = 0; j < p[i].length; j++) {
                            double d = Math.abs(p[i][j] - expected[i][j]);
                            maxDiff = Double.isNaN(d) ? Double.POSITIVE_INFINITY : Math.max(maxDiff, d);
                        }
                    }
                }
            }
        }
        boolean pass = maxDiff <= tolerance;
        System.out.printf(Locale.ROOT, "compare %s (random weights, reference executor, %s): largest difference %.3g "
                + "(tolerance %.0e): %s%n", variant, layout(nhwc), maxDiff, tolerance, pass ? "PASS" : "FAIL");
        return String.format(Locale.ROOT, "{\"model\": %s, \"layout\": %s, \"images\": 73, \"max_abs_diff\": %.6g, "
                        + "\"tolerance\": %.1e, \"reference\": \"ReferenceOps\", \"pass\": %b}",
                str(variant + " (random weights)"), str(layout(nhwc)), maxDiff, tolerance, pass);
    }

    /**
     * What a hot-swapping job does to memory: {@code count} times open an engine, run batches of 64 and 1 (eager,
     * then as graphs), close it. Device memory (cudaMemGetInfo) and the process's resident memory (page-locked
     * buffers, JavaCPP's allocations) are read after the first 10 cycles (everything warmed up) and at the end;
     * flat means the device grew by less than 16 MiB and the process by less than 64 MiB over the rest.
     */
    private static String swaps(ServingWeights sw, Cuda.Device device, CudaEngine.Precision precision, int count)
            throws java.io.IOException {
        int pixels = sw.config().height() * sw.config().width() * sw.config().channels();
        float[] x = new float[64 * pixels];
        long[] deviceUsed = new long[2];
        long[] rss = new long[2];
        long t0 = System.nanoTime();
        for (int i = 1; i <= count; i++) {
            try (CudaEngine engine = CudaEngine.open(sw, device.index(), precision)) {
                for (int repeat = 0; repeat < 2; repeat++) {
                    engine.probabilities(x, 64);
                    engine.probabilities(Arrays.copyOf(x, pixels), 1);
                }
            }
            if (i == Math.min(10, count) || i == count) {
                int k = i == count ? 1 : 0;
                deviceUsed[k] = Cuda.deviceMemoryUsed();
                rss[k] = residentBytes();
            }
        }
        double seconds = (System.nanoTime() - t0) / 1e9;
        long deviceGrowth = deviceUsed[1] - deviceUsed[0];
        long rssGrowth = rss[1] - rss[0];
        boolean flat = deviceGrowth < (16L << 20) && rssGrowth < (64L << 20);
        System.out.printf(Locale.ROOT, "swaps: %d engines opened, used and closed in %.1f s; device memory used %.1f -> "
                        + "%.1f MiB, process resident %.1f -> %.1f MiB between cycle 10 and %d: %s%n", count, seconds,
                deviceUsed[0] / 1048576.0, deviceUsed[1] / 1048576.0, rss[0] / 1048576.0, rss[1] / 1048576.0, count,
                flat ? "FLAT" : "GROWS");
        return String.format(Locale.ROOT, "{\"cycles\": %d, \"seconds\": %.1f, \"device_used_mib\": [%.1f, %.1f], "
                        + "\"resident_mib\": [%.1f, %.1f], \"flat\": %b}", count, seconds, deviceUsed[0] / 1048576.0,
                deviceUsed[1] / 1048576.0, rss[0] / 1048576.0, rss[1] / 1048576.0, flat);
    }

    /** The process's resident memory (VmRSS), in bytes. */
    private static long residentBytes() throws java.io.IOException {
        for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
            if (line.startsWith("VmRSS:")) {
                return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        }
        return -1;
    }

    /** Images/s of whole calls (host to device, network, device to host) at one batch size: the median of repeats. */
    private static String bench(CudaEngine engine, String model, int batch, double seconds) {
        CrmnConfig cfg = engine.config();
        float[] x = new float[batch * cfg.height() * cfg.width() * cfg.channels()];
        Random rnd = new Random(batch);
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) rnd.nextGaussian();
        }
        long t0 = System.nanoTime();
        engine.probabilities(x, batch); // finds the algorithms, makes the buffers
        double firstMs = (System.nanoTime() - t0) / 1e6;
        for (int i = 0; i < 3; i++) {
            engine.probabilities(x, batch);
        }
        List<Double> times = new ArrayList<>();
        long deadline = System.nanoTime() + (long) (seconds * 1e9);
        while (times.size() < 5 || (System.nanoTime() < deadline && times.size() < 2000)) {
            long s = System.nanoTime();
            engine.probabilities(x, batch);
            times.add((System.nanoTime() - s) / 1e6);
        }
        double[] sorted = times.stream().mapToDouble(Double::doubleValue).sorted().toArray();
        double median = sorted[sorted.length / 2];
        double ips = batch / (median / 1000);
        String mode = (engine.graphsOff() == null ? "graphs" : "eager") + (engine.nhwc() ? " nhwc" : "");
        System.out.printf(Locale.ROOT, "bench %-28s %-6s batch %5d: %10.0f images/s (median %.3f ms of %d calls; first "
                + "call %.0f ms; device memory %.0f MiB)%s%n", model, mode, batch, ips, median, sorted.length, firstMs,
                engine.deviceBytes() / 1048576.0, engine.graphsOff() != null && !engine.graphsOff().equals("not asked for")
                        ? " [" + engine.graphsOff() + "]" : "");
        return String.format(Locale.ROOT, "{\"model\": %s, \"mode\": %s, \"batch\": %d, \"images_per_s\": %.1f, "
                        + "\"median_ms\": %.4f, \"p90_ms\": %.4f, \"calls\": %d, \"first_call_ms\": %.1f, "
                        + "\"device_mib\": %.1f}", str(model), str(mode), batch, ips, median,
                sorted[(int) (sorted.length * 0.9)], sorted.length, firstMs, engine.deviceBytes() / 1048576.0);
    }

    private static String layout(boolean nhwc) {
        return nhwc ? "nhwc" : "nchw";
    }

    /** {@code check}'s JSON, or a failed entry naming the exception if the engine threw (the check goes on). */
    private static String guarded(java.util.function.Supplier<String> check, String model, String layout) {
        try {
            return check.get();
        } catch (RuntimeException e) {
            System.out.println("compare " + model + " (" + layout + "): FAIL: " + e);
            return String.format(Locale.ROOT, "{\"model\": %s, \"layout\": %s, \"error\": %s, \"pass\": false}",
                    str(Path.of(model).getFileName().toString()), str(layout), str(String.valueOf(e.getMessage())));
        }
    }

    private static int argmax(float[] p) {
        int best = 0;
        for (int i = 1; i < p.length; i++) {
            if (p[i] > p[best]) {
                best = i;
            }
        }
        return best;
    }

    private static String str(String s) {
        return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
    }
}
