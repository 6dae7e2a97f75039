package dev.crmn.model.cli;

import java.util.List;

/** The model module's subcommands, registered by the launcher. */
public final class ModelCommands {

    private ModelCommands() {
    }

    public static List<Object> all() {
        return List.of(new InfoCommand(), new TrainCommand(), new EvalCommand(), new BenchCommand(), new FineTuneBenchCommand(),
                new ExportCommand(),
                new DataCommand());
    }
}
