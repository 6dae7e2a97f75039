package dev.crmn.jobs.cli;

import dev.crmn.connectors.cli.ConnectorCommands;
import dev.crmn.model.cli.ModelCommands;
import dev.crmn.model.perf.CpuFastPath;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of the {@code ./crmn} launcher: one subcommand per user-facing tool. */
@Command(name = "crmn", mixinStandardHelpOptions = true, version = "crmn-flink 0.1.0",
        description = "Convolutional Residual Memory Networks on Apache Flink.",
        subcommandsRepeatable = false)
public final class Crmn implements Runnable {

    @Override
    public void run() {
        new CommandLine(this).usage(System.out);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Crmn());
        for (Object cmd : ModelCommands.all()) {
            cl.addSubcommand(cmd);
        }
        for (Object cmd : ConnectorCommands.all()) {
            cl.addSubcommand(cmd);
        }
        return cl;
    }

    public static void main(String[] args) {
        CpuFastPath.configure(); // before anything loads ND4J
        int code = commandLine().execute(args);
        System.exit(code);
    }
}
