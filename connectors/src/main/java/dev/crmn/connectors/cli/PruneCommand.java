package dev.crmn.connectors.cli;

import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.Retention;
import dev.crmn.model.cli.CliSupport;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParentCommand;

/** {@code crmn models prune}: deletes the weights of the versions nothing can still use ({@link Retention}). */
@Command(name = "prune", mixinStandardHelpOptions = true,
        description = "Delete the weights (model.zip) of old versions of a model, keeping the newest --keep, the serving"
                + " and shadow versions, every version newer than the serving one and the --keep-served most recently"
                + " served (rollback targets). A pruned version keeps its manifest and status records: it stays listed and"
                + " its number is never reused, but it can no longer be fetched, served or rolled back to. Run it again"
                + " at any time: it prunes only what the rules allow then.")
public final class PruneCommand implements Callable<Integer> {

    @ParentCommand
    ModelsCommand models;

    @Option(names = "--keep", defaultValue = "10", description = "Newest versions kept whatever their status (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--keep-served", defaultValue = "" + Retention.DEFAULT_KEEP_SERVED, description = "Most recently served versions kept (default: ${DEFAULT-VALUE}).")
    int keepServed;

    @Option(names = "--dry-run", description = "Print the plan only; delete nothing.")
    boolean dryRun;

    @Override
    public Integer call() throws Exception {
        ModelStore s = models.store();
        List<Retention.Decision> plan = Retention.plan(s, models.name, keep, keepServed);
        List<Map<String, Object>> rows = new ArrayList<>();
        long freed = 0;
        int pruned = 0;
        for (Retention.Decision d : plan) {
            Map<String, Object> row = new LinkedHashMap<>();
            row.put("version", d.ref().version());
            row.put("status", d.status());
            String action = d.keep() ? "kept" : d.alreadyPruned() ? "pruned before" : dryRun ? "would prune" : "pruned";
            row.put("action", action);
            row.put("reason", d.reason());
            if (d.prunable()) {
                long bytes = modelBytes(d.ref());
                row.put("bytes", bytes);
                if (!dryRun) {
                    s.prune(d.ref(), "crmn models prune --keep " + keep + " --keep-served " + keepServed + ": " + d.reason());
                }
                freed += bytes;
                pruned++;
            }
            rows.add(row);
        }
        if (models.json) {
            Map<String, Object> doc = new LinkedHashMap<>();
            doc.put("model", models.name);
            doc.put("dry_run", dryRun);
            doc.put("pruned", pruned);
            doc.put("bytes_freed", freed);
            doc.put("versions", rows);
            CliSupport.printJson(doc);
        } else {
            for (Map<String, Object> row : rows) {
                System.out.printf("v%-7s %-12s %-14s %s%n", row.get("version"), row.get("status"), row.get("action"), row.get("reason"));
            }
            System.out.printf("%s %d version%s of %s, %.1f MB%s%n", dryRun ? "would prune" : "pruned", pruned,
                    pruned == 1 ? "" : "s", models.name, freed / 1e6, dryRun ? " (dry run: nothing deleted)" : " freed");
        }
        return 0;
    }

    /** The size of a version's weights as its directory holds them now (0 if already gone). */
    private static long modelBytes(dev.crmn.connectors.format.ModelRef ref) throws java.io.IOException {
        var file = new org.apache.flink.core.fs.Path(new org.apache.flink.core.fs.Path(ref.uri()),
                dev.crmn.model.checkpoint.Checkpoints.MODEL);
        var fs = file.getFileSystem();
        return fs.exists(file) ? fs.getFileStatus(file).getLen() : 0;
    }
}
