package dev.crmn.jobs.inference;

import dev.crmn.connectors.format.ModelRef;
import dev.crmn.connectors.store.ModelCache;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.infer.Classifier;
import dev.crmn.model.infer.ClassifierOptions;
import dev.crmn.model.infer.ServingNetwork;
import java.io.IOException;
import java.io.Serializable;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.TreeSet;

/**
 * Turns a {@link ModelRef} into a serving model, or refuses it with the reason: fetch it from its store into
 * the local cache (checksums and, in a signed store, the signature are verified there), load the checkpoint,
 * check that it takes the same input (size, channels) and names the same classes as the model the job's
 * frames are decoded for, and run a warm-up batch of every padded size up to the batch size, so that oneDNN
 * compiles its kernels here and not on the hot path, checking that every output is a finite probability
 * distribution. Runs on a loader thread; knows nothing of Flink.
 */
public final class ModelLoader {

    /**
     * What every model of a running job must take and produce: the decoder upstream was configured for it.
     */
    public record Expected(int height, int width, int channels, List<String> labels) implements Serializable {
        public static Expected of(Manifest m) {
            return new Expected(m.input().height(), m.input().width(), m.input().channels(), List.copyOf(m.labels()));
        }
    }

    /**
     * A model version that cannot serve, and why; {@link #retryable()} when the store could not be read (it may be
     * back later), not when the checkpoint itself is wrong.
     */
    public static final class Refused extends Exception {
        private final boolean retryable;

        public Refused(String reason, Throwable cause) {
            this(reason, cause, false);
        }

        public Refused(String reason, Throwable cause, boolean retryable) {
            super(reason, cause);
            this.retryable = retryable;
        }

        public boolean retryable() {
            return retryable;
        }
    }

    /** A model ready to serve; closing it frees its native memory. */
    public record LoadedModel(ModelRef ref, Classifier classifier) implements AutoCloseable {
        @Override
        public void close() {
            classifier.close();
        }
    }

    private final ModelCache cache;
    private final Expected expected;
    private final int batchSize;
    private final ClassifierOptions engine;

    /**
     * @param cache     the TaskManager's local cache of the store (shared safely by every subtask of a TaskManager);
     *                  its store verifies what it fetches (its signing key, if any); the ModelRef's URI says where
     * @param batchSize the largest batch the model will run (warm-up goes up to it)
     * @param engine    the engine the models run on
     */
    public ModelLoader(ModelCache cache, Expected expected, int batchSize, ClassifierOptions engine) {
        this.cache = cache;
        this.expected = expected;
        this.batchSize = batchSize;
        this.engine = engine;
    }

    /** The version loaded, checked and warmed up. */
    public LoadedModel load(ModelRef ref) throws Refused {
        try {
            java.util.Optional<dev.crmn.connectors.store.ModelStatus.Change> s = cache.store().unusable(ref);
            if (s.isPresent()) {
                throw new Refused(ref.displayName() + " was " + s.get().status() + " at "
                        + java.time.Instant.ofEpochMilli(s.get().at()) + " (" + s.get().reason() + "): never served again", null);
            }
        } catch (IOException e) {
            throw new Refused("cannot read the status of " + ref.displayName() + ": " + e.getMessage(), e, true);
        }
        Checkpoints.Loaded loaded;
        try {
            loaded = cache.use(ref, dir -> Checkpoints.load(dir, false));
        } catch (dev.crmn.model.checkpoint.CheckpointException e) {
            throw new Refused("cannot verify " + ref.displayName() + " from " + ref.uri() + ": " + e.getMessage(), e);
        } catch (IOException e) {
            throw new Refused("cannot fetch " + ref.displayName() + " from " + ref.uri() + ": " + e.getMessage(), e, true);
        } catch (RuntimeException | Error e) { // an Error too (out of memory, a native library): refused, not a dead loader
            throw new Refused("cannot fetch or verify " + ref.displayName() + " from " + ref.uri() + ": " + e, e);
        }
        Manifest m = loaded.manifest();
        Classifier c;
        try {
            c = Classifier.of(loaded, engine);
        } catch (RuntimeException | Error e) {
            throw new Refused("cannot build " + ref.displayName() + " on " + engine.engine().wireName() + ": " + e, e);
        }
        try {
            check(m);
            warmUp(c);
            return new LoadedModel(ref, c);
        } catch (Refused | RuntimeException | Error e) { // the half-built model's native memory goes in every case
            c.close();
            if (e instanceof Refused r) {
                throw r;
            }
            throw new Refused("warm-up of " + ref.displayName() + " failed: " + e, e);
        }
    }

    private void check(Manifest m) throws Refused {
        if (m.input().height() != expected.height() || m.input().width() != expected.width()
                || m.input().channels() != expected.channels()) {
            throw new Refused(m.displayName() + " takes " + m.input().height() + "x" + m.input().width() + "x"
                    + m.input().channels() + " images; this job decodes frames to " + expected.height() + "x"
                    + expected.width() + "x" + expected.channels(), null);
        }
        if (!m.labels().equals(expected.labels())) {
            throw new Refused(m.displayName() + " has classes " + m.labels() + "; this job serves " + expected.labels(), null);
        }
    }

    /** Every padded batch size up to the batch size, on fixed pseudo-random images; outputs must be distributions. */
    private void warmUp(Classifier c) throws Refused {
        Random rng = new Random(1);
        TreeSet<Long> sizes = new TreeSet<>();
        for (int n = 1; n <= batchSize; n++) {
            sizes.add(ServingNetwork.bucket(n));
        }
        for (long n : sizes) {
            List<PixelImage> images = new ArrayList<>();
            for (int i = 0; i < n; i++) {
                byte[] px = new byte[expected.height() * expected.width() * expected.channels()];
                rng.nextBytes(px);
                images.add(new PixelImage(expected.height(), expected.width(), expected.channels(), px));
            }
            for (float[] row : c.probabilities(images)) {
                double sum = 0;
                for (float p : row) {
                    if (!Float.isFinite(p) || p < 0) {
                        throw new Refused(c.manifest().displayName() + " produces non-finite or negative outputs", null);
                    }
                    sum += p;
                }
                if (Math.abs(sum - 1) > 1e-3) {
                    throw new Refused(c.manifest().displayName() + " produces outputs that do not sum to 1 (" + sum + ")", null);
                }
            }
        }
    }
}
