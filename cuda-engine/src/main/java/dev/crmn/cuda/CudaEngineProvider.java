package dev.crmn.cuda;

import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.infer.EngineProvider;
import dev.crmn.model.infer.InferenceNetwork;
import dev.crmn.model.infer.ServingWeights;
import java.util.Locale;

/**
 * The CUDA engine as the model module finds it ({@code --engine cuda|auto}). Settings from the environment:
 * {@code CRMN_CUDA_DEVICE} (device index, default 0), {@code CRMN_CUDA_PRECISION} ({@code tf32}, the default, or
 * {@code fp32}), {@code CRMN_CUDA_GRAPHS} ({@code on}, the default, or {@code off}), {@code CRMN_CUDA_LAYOUT}
 * ({@code auto}, the default: channels-last with TF32, channels-first in FP32; or {@code nhwc}, {@code nchw}).
 */
public final class CudaEngineProvider implements EngineProvider {

    @Override
    public ClassifierOptions.Engine engine() {
        return ClassifierOptions.Engine.CUDA;
    }

    @Override
    public String unavailable() {
        try {
            Cuda.device(deviceIndex());
            return null;
        } catch (Cuda.CudaException | IllegalArgumentException e) {
            return e.getMessage();
        }
    }

    @Override
    public InferenceNetwork open(ServingWeights sw) {
        try {
            CudaEngine.Precision precision = precision();
            return new CudaNetwork(CudaEngine.open(sw, deviceIndex(), precision,
                    !"off".equalsIgnoreCase(setting("CRMN_CUDA_GRAPHS", "on")), nhwc(precision)));
        } catch (Cuda.CudaException e) {
            throw new IllegalStateException(e.getMessage(), e);
        }
    }

    static int deviceIndex() {
        String v = setting("CRMN_CUDA_DEVICE", "0");
        try {
            return Integer.parseInt(v);
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("CRMN_CUDA_DEVICE=" + v + " is not a device index");
        }
    }

    static boolean nhwc(CudaEngine.Precision precision) {
        String v = setting("CRMN_CUDA_LAYOUT", "auto").toLowerCase(Locale.ROOT);
        return switch (v) {
            case "auto" -> CudaEngine.defaultNhwc(precision);
            case "nhwc" -> true;
            case "nchw" -> false;
            default -> throw new IllegalArgumentException("CRMN_CUDA_LAYOUT=" + v + " is not auto, nhwc or nchw");
        };
    }

    static CudaEngine.Precision precision() {
        String v = setting("CRMN_CUDA_PRECISION", "tf32");
        try {
            return CudaEngine.Precision.valueOf(v.toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("CRMN_CUDA_PRECISION=" + v + " is neither tf32 nor fp32");
        }
    }

    private static String setting(String name, String fallback) {
        String v = System.getenv(name);
        return v == null || v.isBlank() ? fallback : v.trim();
    }
}
