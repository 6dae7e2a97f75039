package dev.crmn.connectors.cli;

import java.util.List;

/** The connectors module's subcommands, registered by the launcher. */
public final class ConnectorCommands {

    private ConnectorCommands() {
    }

    public static List<Object> all() {
        return List.of(new ProduceCommand(), new ScoreCommand(), new PublishCommand(), new ModelsCommand(), new RollbackCommand());
    }
}
