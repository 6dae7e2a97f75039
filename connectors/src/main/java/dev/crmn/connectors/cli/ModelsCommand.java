package dev.crmn.connectors.cli;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.ModelStore;
import dev.crmn.model.cli.CliSupport;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code crmn models}: the published versions of a model in a store. */
@Command(name = "models", mixinStandardHelpOptions = true, description = "List the published versions of a model in a model store.")
public final class ModelsCommand implements Callable<Integer> {

    @Option(names = "--store", required = true, description = "Model store root URI.")
    String store;

    @Option(names = "--name", required = true, description = "Model name.")
    String name;

    @Option(names = "--json", description = "Print the ModelRefs as a JSON array, oldest first.")
    boolean json;

    @Override
    public Integer call() throws Exception {
        List<ModelRef> refs = new ModelStore(store).list(name);
        if (json) {
            CliSupport.printJson(refs);
        } else if (refs.isEmpty()) {
            System.out.println("no published versions of " + name + " in " + store);
        } else {
            for (ModelRef r : refs) {
                System.out.printf("%-24s %s  sha256 %s  metrics %s%n", r.displayName(), r.uri(), r.sha256().substring(0, 16),
                        r.metrics());
            }
        }
        return 0;
    }
}
