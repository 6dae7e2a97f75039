package dev.crmn.model.config;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Named architectures. {@code crmn-*} presets carry the LSTM memory; each has a {@code wrn-*} twin with
 * the same convolutional trunk and no memory, for ablation.
 */
public final class Presets {

    private static final Map<String, CrmnConfig> PRESETS = new LinkedHashMap<>();

    static {
        // Unit-test scale: WRN-10-1, 3 memory steps; trains to >95% on a few hundred images in seconds.
        add("tiny", CrmnConfig.builder().depth(10).widen(1).lstmSize(32).memoryInputSize(16));
        // CPU demo: WRN-16-1 (6 memory steps); trains to useful CIFAR-10 accuracy in < 30 min on 2 cores.
        add("demo", CrmnConfig.builder().depth(16).widen(1).lstmSize(64).memoryInputSize(32));
        add("10-2", CrmnConfig.builder().depth(10).widen(2).lstmSize(128).memoryInputSize(64));
        // Paper-scale shapes.
        add("16-4", CrmnConfig.builder().depth(16).widen(4).lstmSize(256).memoryInputSize(128));
        add("28-10", CrmnConfig.builder().depth(28).widen(10).dropout(0.3).lstmSize(512).memoryInputSize(256));
    }

    private Presets() {
    }

    private static void add(String suffix, CrmnConfig.Builder builder) {
        PRESETS.put("crmn-" + suffix, builder.memory(true).build());
        PRESETS.put("wrn-" + suffix, builder.memory(false).build());
    }

    /** All presets by name, in a stable order. */
    public static Map<String, CrmnConfig> all() {
        return Collections.unmodifiableMap(PRESETS);
    }

    /**
     * The preset of that name.
     *
     * @throws IllegalArgumentException naming the known presets, if there is none
     */
    public static CrmnConfig get(String name) {
        CrmnConfig cfg = PRESETS.get(name);
        if (cfg == null) {
            throw new IllegalArgumentException("unknown preset '" + name + "'; known: " + String.join(", ", PRESETS.keySet()));
        }
        return cfg;
    }

    /** The preset with the given number of classes and input shape instead of CIFAR-10's. */
    public static CrmnConfig get(String name, int classes, int height, int width, int channels) {
        return get(name).toBuilder().classes(classes).input(height, width, channels).build();
    }
}
