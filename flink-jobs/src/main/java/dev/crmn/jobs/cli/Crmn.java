package dev.crmn.jobs.cli;

import dev.crmn.jobs.bench.BenchStreamCommand;
import dev.crmn.jobs.demo.DemoCommand;
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

    private static final org.slf4j.Logger LOG = org.slf4j.LoggerFactory.getLogger(Crmn.class);

    /** {@code --verbose} on any subcommand: show Kafka's and our own warnings and progress logs. */
    @CommandLine.Option(names = "--verbose", scope = CommandLine.ScopeType.INHERIT,
            description = "Log more: Kafka client warnings, the project's INFO messages.")
    void verbose(boolean on) {
        if (on) {
            org.apache.logging.log4j.core.config.Configurator.setLevel("org.apache.kafka", org.apache.logging.log4j.Level.WARN);
            org.apache.logging.log4j.core.config.Configurator.setLevel("dev.crmn", org.apache.logging.log4j.Level.INFO);
        }
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    /** {@code crmn} alone: the usage with every subcommand. */
    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Crmn());
        cl.setExecutionExceptionHandler(Crmn::handle);
        for (Object cmd : ModelCommands.all()) {
            cl.addSubcommand(cmd);
        }
        for (Object cmd : ConnectorCommands.all()) {
            cl.addSubcommand(cmd);
        }
        cl.addSubcommand(new dev.crmn.jobs.cli.BrokerCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.InferCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.FineTuneCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.QualityCommand());
        cl.addSubcommand(new dev.crmn.jobs.demo.DemoCommand());
        cl.addSubcommand(new dev.crmn.jobs.demo.SoakCommand());
        cl.addSubcommand(new dev.crmn.jobs.bench.BenchStreamCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.SubmitCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.StopCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.TopicsCommand());
        cl.addSubcommand(new dev.crmn.jobs.cli.SqlCommand());
        return cl;
    }

    /**
     * User errors (bad arguments, unreadable data, refused checkpoints) print one line and exit 2 or 1;
     * anything else prints its stack trace too. {@code CRMN_DEBUG=1} always prints stack traces.
     */
    private static int handle(Exception e, CommandLine cl, CommandLine.ParseResult parsed) {
        boolean debug = System.getenv("CRMN_DEBUG") != null;
        String name = cl.getCommandName();
        if (e instanceof IllegalArgumentException) {
            cl.getErr().println(name + ": error: " + e.getMessage());
            if (debug) {
                LOG.error("{} failed", name, e);
            }
            return 2;
        }
        if (e instanceof java.io.IOException || e instanceof java.io.UncheckedIOException) {
            cl.getErr().println(name + ": error: " + e.getMessage());
            if (debug) {
                LOG.error("{} failed", name, e);
            }
            return 1;
        }
        LOG.error("{}: unexpected error", name, e);
        return 1;
    }

    public static void main(String[] args) {
        CpuFastPath.configure(); // before anything loads ND4J
        int code = commandLine().execute(args);
        System.exit(code);
    }
}
