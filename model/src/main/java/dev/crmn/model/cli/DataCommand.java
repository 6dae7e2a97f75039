package dev.crmn.model.cli;

import dev.crmn.model.data.Cifar10Dir;
import dev.crmn.model.data.Cifar10Fetch;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code crmn data}: the data sets the tools read ({@code fetch cifar10}, {@code where}). */
@Command(name = "data", mixinStandardHelpOptions = true, description = "Get the data sets (CIFAR-10) and show which copy the tools use.",
        subcommands = {DataCommand.Fetch.class, DataCommand.Where.class})
public final class DataCommand implements Runnable {

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    @Command(name = "fetch", mixinStandardHelpOptions = true,
            description = {"Download the CIFAR-10 binary archive (" + Cifar10Fetch.URL + "), check its published MD5,",
                    "and unpack it (test_batch.bin, data_batch_1..5.bin, batches.meta.txt). A partial download resumes;",
                    "a complete copy is left alone."})
    static final class Fetch implements Callable<Integer> {

        @Parameters(index = "0", paramLabel = "DATASET", description = "The data set: cifar10.")
        String dataset;

        @Option(names = "--to", description = "Directory to unpack into (default: data/cifar10 in the repository, where every"
                + " command looks; git-ignored).")
        Path to;

        @Option(names = "--from", description = "A mirror's URL (http, https, file) or a copy of cifar-10-binary.tar.gz on"
                + " disk (default: the official archive).")
        String from;

        @Option(names = "--md5", description = "The archive's expected MD5 (default: the published one, "
                + Cifar10Fetch.MD5 + ").")
        String md5;

        @Option(names = "--json", description = "Print one JSON document (dir, fetched, downloaded_bytes, resumed).")
        boolean json;

        @Override
        public Integer call() throws Exception {
            if (!"cifar10".equals(dataset)) {
                throw new IllegalArgumentException("unknown data set '" + dataset + "' (known: cifar10)");
            }
            Path target = to != null ? to : Cifar10Dir.fetchedDir(Cifar10Dir.home());
            Progress progress = new Progress();
            String[] phase = {null};
            Cifar10Fetch fetch = new Cifar10Fetch(target, from, md5, (p, done, total) -> {
                if (phase[0] != null && !phase[0].equals(p)) {
                    progress.done(line(phase[0], -1, -1));
                }
                phase[0] = p;
                progress.update(line(p, done, total));
            });
            Cifar10Fetch.Result r = fetch.run();
            if (phase[0] != null) {
                progress.done(line(phase[0], -1, -1));
            }
            if (json) {
                Map<String, Object> doc = new LinkedHashMap<>();
                doc.put("dir", r.dir().toString());
                doc.put("fetched", r.fetched());
                doc.put("downloaded_bytes", r.downloadedBytes());
                doc.put("resumed", r.resumed());
                CliSupport.printJson(doc);
            } else if (r.fetched()) {
                System.out.println("CIFAR-10 in " + r.dir() + (r.resumed() ? " (download resumed)" : ""));
            } else {
                System.out.println("CIFAR-10 already in " + r.dir() + ": nothing to do");
            }
            return 0;
        }

        private static String line(String phase, long done, long total) {
            if (done < 0) {
                return "data fetch: " + phase + " done";
            }
            if (total <= 0) {
                return String.format("data fetch: %s %.1f MB", phase, done / 1e6);
            }
            return String.format("data fetch: %-8s %s %5.1f%%  %.1f / %.1f MB", phase, ProgressBar.bar((double) done / total),
                    100.0 * done / total, done / 1e6, total / 1e6);
        }
    }

    @Command(name = "where", mixinStandardHelpOptions = true,
            description = "Say which CIFAR-10 copy the tools use (--data, $CRMN_CIFAR10_DIR, data/cifar10, ../shared, the sample).")
    static final class Where implements Callable<Integer> {

        @Option(names = "--json", description = "Print one JSON document (dir, source, sample).")
        boolean json;

        @Override
        public Integer call() throws Exception {
            Cifar10Dir d = Cifar10Dir.locate(null);
            if (json) {
                CliSupport.printJson(Map.of("dir", d.dir().toString(), "source", d.source(), "sample", d.isSample()));
            } else {
                System.out.println(d.describe());
            }
            return 0;
        }
    }
}
