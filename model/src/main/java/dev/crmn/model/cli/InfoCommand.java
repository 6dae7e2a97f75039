package dev.crmn.model.cli;

import dev.crmn.model.config.CrmnConfig;
import dev.crmn.model.config.Presets;
import dev.crmn.model.graph.ModelSummary;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code crmn info}: layer summary, parameters and multiply-adds of a preset. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Print a preset's layers, parameter count and multiply-adds per image.")
public final class InfoCommand implements Callable<Integer> {

    @Option(names = "--preset", defaultValue = "crmn-demo", description = "Preset name (default: ${DEFAULT-VALUE}).")
    String preset;

    @Option(names = "--list", description = "List the presets instead.")
    boolean list;

    @Option(names = "--json", description = "Print one JSON document (params, macs, layers).")
    boolean json;

    @Override
    public Integer call() {
        if (list) {
            Map<String, Object> all = new LinkedHashMap<>();
            for (Map.Entry<String, CrmnConfig> e : Presets.all().entrySet()) {
                ModelSummary s = ModelSummary.of(e.getValue());
                all.put(e.getKey(), Map.of("architecture", e.getValue(), "params", s.params(), "macs", s.macs()));
            }
            if (json) {
                CliSupport.printJson(all);
            } else {
                for (Map.Entry<String, CrmnConfig> e : Presets.all().entrySet()) {
                    ModelSummary s = ModelSummary.of(e.getValue());
                    System.out.printf("%-12s %-10s %,12d params %,15d MACs  %s%n", e.getKey(), e.getValue().shortName(),
                            s.params(), s.macs(), e.getValue());
                }
            }
            return 0;
        }
        CrmnConfig cfg = Presets.get(preset);
        ModelSummary s = ModelSummary.of(cfg);
        if (json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("preset", preset);
            doc.put("architecture", cfg);
            doc.put("params", s.params());
            doc.put("params_total", s.paramsTotal());
            doc.put("macs", s.macs());
            doc.put("gflop_per_image", s.gflopsPerImage());
            doc.put("layers", s.layers());
            CliSupport.printJson(doc);
        } else {
            System.out.println(preset + ": " + cfg);
            System.out.println();
            System.out.print(s.toText());
        }
        return 0;
    }
}
