package dev.crmn.model.data;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/**
 * Where the CIFAR-10 binaries are, for every command that reads them. Looked up in this order, the first that holds
 * {@code test_batch.bin} wins:
 * <ol>
 *   <li>the command's {@code --data} directory;</li>
 *   <li>{@code $CRMN_CIFAR10_DIR};</li>
 *   <li>the fetched copy, {@code <home>/data/cifar10} ({@code crmn data fetch cifar10} puts it there);</li>
 *   <li>{@code <home>/../shared/datasets/cifar10} (a folder laid beside the repository);</li>
 *   <li>the sample that ships in the repository, {@code <home>/data/cifar10-sample} (a few thousand real images in
 *       the same layout, enough for the demo and the tests).</li>
 * </ol>
 * A directory named by {@code --data} or {@code $CRMN_CIFAR10_DIR} that does not hold the data is an error, never
 * silently skipped. {@code <home>} is the repository: the launcher passes it as {@code -Dcrmn.home}; elsewhere the
 * nearest folder upward from the working directory that holds {@code data/cifar10-sample}, else the working
 * directory.
 *
 * @param dir    the directory holding {@code test_batch.bin}, {@code data_batch_N.bin}, {@code batches.meta.txt}
 * @param source how it was found, for messages ("--data", "$CRMN_CIFAR10_DIR", "fetched", "../shared", "sample")
 */
public record Cifar10Dir(Path dir, String source) {

    public static final String ENV = "CRMN_CIFAR10_DIR";
    public static final String HOME_PROPERTY = "crmn.home";
    public static final String SAMPLE = "sample";
    static final String MARKER = "test_batch.bin";

    /** True for the small sample shipped in the repository. */
    public boolean isSample() {
        return SAMPLE.equals(source);
    }

    /** A file of the data set ({@code test_batch.bin}, {@code data_batch_3.bin}, ...). */
    public Path file(String name) {
        return dir.resolve(name);
    }

    /** One line for users: where the data comes from, and how to get the full set when this is the sample. */
    public String describe() {
        if (isSample()) {
            return "CIFAR-10: the sample shipped in the repository (" + dir + "; a few thousand images): fetch the full set"
                    + " with ./crmn data fetch cifar10";
        }
        return "CIFAR-10: " + dir + " (" + source + ")";
    }

    /** The directory {@code option} names, or the first place of the order above that holds the data. */
    public static Cifar10Dir locate(Path option) throws IOException {
        return locate(option, System.getenv(ENV), home());
    }

    /** The full data set (every place but the sample), if there is one. */
    public static Optional<Cifar10Dir> full(Path option) throws IOException {
        Cifar10Dir d = locate(option, System.getenv(ENV), home());
        return d.isSample() ? Optional.empty() : Optional.of(d);
    }

    static Cifar10Dir locate(Path option, String env, Path home) throws IOException {
        if (option != null) {
            return required(option, "--data " + option);
        }
        if (env != null && !env.isBlank()) {
            return required(Path.of(env), "$" + ENV + "=" + env);
        }
        List<Cifar10Dir> candidates = new ArrayList<>();
        candidates.add(new Cifar10Dir(fetchedDir(home), "fetched"));
        candidates.add(new Cifar10Dir(home.resolve("..").resolve("shared/datasets/cifar10").normalize(), "../shared"));
        candidates.add(new Cifar10Dir(sampleDir(home), SAMPLE));
        for (Cifar10Dir c : candidates) {
            if (Files.isRegularFile(c.dir().resolve(MARKER))) {
                return c;
            }
        }
        throw new IOException("CIFAR-10 not found: looked in --data, $" + ENV + ", " + fetchedDir(home) + ", "
                + candidates.get(1).dir() + " and the shipped sample " + sampleDir(home)
                + " (run ./crmn data fetch cifar10, or pass --data DIR)");
    }

    private static Cifar10Dir required(Path dir, String what) throws IOException {
        if (Files.isRegularFile(dir)) {
            throw new IOException(what + ": a directory is expected (the one holding " + MARKER + "), not a file");
        }
        if (!Files.isRegularFile(dir.resolve(MARKER))) {
            throw new IOException(what + ": no " + MARKER + " there (the CIFAR-10 binary version: " + MARKER
                    + ", data_batch_1.bin ... data_batch_5.bin, batches.meta.txt; ./crmn data fetch cifar10 gets it)");
        }
        return new Cifar10Dir(dir, what.startsWith("--data") ? "--data" : "$" + ENV);
    }

    /** The repository (or wherever the user runs from): see the class comment. */
    public static Path home() {
        String prop = System.getProperty(HOME_PROPERTY);
        if (prop != null && !prop.isBlank()) {
            return Path.of(prop).toAbsolutePath().normalize();
        }
        Path cwd = Path.of("").toAbsolutePath();
        for (Path d = cwd; d != null; d = d.getParent()) {
            if (Files.isDirectory(sampleDir(d))) {
                return d;
            }
        }
        return cwd;
    }

    /** Where {@code crmn data fetch cifar10} unpacks to by default (git-ignored). */
    public static Path fetchedDir(Path home) {
        return home.resolve("data").resolve("cifar10");
    }

    /** The sample shipped in the repository. */
    public static Path sampleDir(Path home) {
        return home.resolve("data").resolve("cifar10-sample");
    }

    /**
     * The files a command reads: {@code given} (its {@code --data} list) when there is one, each entry that names
     * no existing file and is a bare file name ({@code test_batch.bin}) taken from the located data set; with no
     * {@code --data}, {@code defaults} from the located data set. {@code note} hears where the data came from when
     * it was looked up.
     */
    public static List<Path> files(List<Path> given, List<String> defaults, java.util.function.Consumer<String> note)
            throws IOException {
        List<Path> out = new ArrayList<>();
        Cifar10Dir located = null;
        List<String> names = new ArrayList<>();
        if (given == null || given.isEmpty()) {
            names.addAll(defaults);
        } else {
            for (Path p : given) {
                if (Files.exists(p) || p.getParent() != null) {
                    out.add(p);
                } else {
                    names.add(p.toString());
                }
            }
        }
        if (!names.isEmpty()) {
            located = locate(null);
            note.accept(located.describe());
            for (String n : names) {
                Path f = located.file(n);
                if (!Files.exists(f)) {
                    throw new IOException(n + ": not a file here, and not in " + located.dir() + (located.isSample()
                            ? " (the sample holds " + String.join(", ", sampleFiles(located.dir())) + "; ./crmn data fetch"
                            + " cifar10 gets the full set)" : ""));
                }
                out.add(f);
            }
        }
        return out;
    }

    private static List<String> sampleFiles(Path dir) throws IOException {
        try (var s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".bin")).sorted().toList();
        }
    }
}
