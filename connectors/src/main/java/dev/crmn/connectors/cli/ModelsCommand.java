package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.ModelStatus;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.connectors.store.PrunedException;
import dev.crmn.connectors.store.SigningKeys;
import dev.crmn.model.cli.CliSupport;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.ScopeType;

/** {@code crmn models}: the published versions of a model in a store, each verified; {@code prune} frees old ones. */
@Command(name = "models", mixinStandardHelpOptions = true, subcommands = PruneCommand.class,
        description = "List the published versions of a model in a model store, verifying each (hashes; the signature "
                + "when a signing key is given). A pruned version is listed with pruned: true and counts as no problem.")
public final class ModelsCommand implements Callable<Integer> {

    @Option(names = "--store", required = true, scope = ScopeType.INHERIT, description = "Model store: a directory, or a file system URI (file:///..., s3://..., hdfs://...).")
    String store;

    @Option(names = "--name", required = true, scope = ScopeType.INHERIT, description = "Model name.")
    String name;

    @Option(names = "--signing-key-file", scope = ScopeType.INHERIT, description = "HMAC key file; default: $CRMN_MODEL_STORE_KEY, else unsigned.")
    Path signingKeyFile;

    @Option(names = "--json", scope = ScopeType.INHERIT, description = "Print the ModelRefs as a JSON array, oldest first,"
            + " each with verified (and problem), status and pruned; with prune, its plan and what it did.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        ModelStore s = store();
        List<ModelRef> refs = s.list(name);
        List<Map<String, Object>> rows = new ArrayList<>();
        int bad = 0;
        for (ModelRef r : refs) {
            Map<String, Object> row = CliSupport.json().convertValue(r, LinkedHashMap.class);
            List<ModelStatus.Change> history = s.statusHistory(r);
            ModelStatus.Change now = history.isEmpty() ? null : history.get(history.size() - 1);
            row.put("status", now == null ? "published" : now.status());
            row.put("reason", now == null ? null : now.reason());
            row.put("status_changed_at", now == null ? null : now.at());
            row.put("status_history", history);
            row.put("pruned", false);
            try {
                s.verify(r);
                row.put("verified", true);
            } catch (IOException e) {
                row.put("verified", false);
                row.put("problem", e.getMessage());
                if (e instanceof PrunedException) { // weights deleted on purpose (crmn models prune): not damage
                    row.put("pruned", true);
                } else {
                    bad++;
                }
            }
            rows.add(row);
        }
        if (json) {
            CliSupport.printJson(rows);
        } else if (refs.isEmpty()) {
            System.out.println("no published versions of " + name + " in " + store);
        } else {
            System.out.printf("%-8s %-8s %-14s %-9s %-12s %s%n", "version", "parent", "sha256", "verified", "status",
                    "uri / metrics");
            for (Map<String, Object> row : rows) {
                ModelRef r = CliSupport.json().convertValue(row, ModelRef.class);
                System.out.printf("%-8d %-8s %-14s %-9s %-12s %s%n         %s%s%n", r.version(),
                        r.parentVersion() == null ? "-" : r.parentVersion(), r.sha256().substring(0, 12),
                        Boolean.TRUE.equals(row.get("pruned")) ? "pruned" : Boolean.TRUE.equals(row.get("verified")) ? "yes"
                                : "NO", row.get("status"), r.uri(),
                        row.containsKey("problem") ? row.get("problem") : r.metrics(),
                        row.get("reason") == null ? "" : "\n         " + row.get("status") + ": " + row.get("reason"));
            }
        }
        return bad == 0 ? 0 : 1;
    }

    ModelStore store() throws IOException {
        return new ModelStore(new org.apache.flink.core.fs.Path(ModelStore.rootUri(store)), SigningKeys.resolve(signingKeyFile));
    }
}
