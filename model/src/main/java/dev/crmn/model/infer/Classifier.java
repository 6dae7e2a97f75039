package dev.crmn.model.infer;

import dev.crmn.model.checkpoint.CheckpointException;
import dev.crmn.model.checkpoint.Checkpoints;
import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.Batches;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.graph.Graphs;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.deeplearning4j.nn.graph.ComputationGraph;
import org.nd4j.linalg.api.ndarray.INDArray;

/**
 * Batch of images in, class probabilities and top-k out, for one checkpoint.
 *
 * <pre>{@code
 * try (Classifier c = Classifier.load(Path.of("models/crmn-demo"))) {
 *     List<List<ClassScore>> top3 = c.topK(images, 3);
 * }
 * }</pre>
 *
 * <p><b>Thread-safety:</b> not thread-safe. The network keeps per-call state (the serving network its
 * activation buffers, a DL4J graph its layer state), so a {@code Classifier} must be used by one thread at
 * a time; give each thread (each Flink subtask) its own instance. Instances are independent: loading the
 * same checkpoint twice gives two networks that share nothing.
 *
 * <p>By default it runs the fast path ({@link ClassifierOptions#defaults()}): a {@link ServingNetwork}, the
 * network as native ND4J operations in NHWC with batch norm folded into the convolutions.
 */
public final class Classifier implements AutoCloseable {

    private final Manifest manifest;
    private final InferenceNetwork net;
    private final CNN2DFormat layout;

    private Classifier(Manifest manifest, InferenceNetwork net, CNN2DFormat layout) {
        this.manifest = manifest;
        this.net = net;
        this.layout = layout;
    }

    /** Loads and verifies a checkpoint (directory or manifest path) with the default options. */
    public static Classifier load(Path checkpoint) throws CheckpointException {
        return load(checkpoint, ClassifierOptions.defaults());
    }

    public static Classifier load(Path checkpoint, ClassifierOptions options) throws CheckpointException {
        return of(Checkpoints.load(checkpoint, false), options);
    }

    /**
     * A classifier over a loaded checkpoint, which it takes over: on the fast path the trained graph's weights
     * are copied into a {@link ServingNetwork} and the graph is freed at once; on the plain path the graph (or
     * its NCHW copy, the original then freed) becomes the classifier's network. Either way the loaded graph
     * must not be used afterwards, and {@link #close()} frees all native memory.
     */
    public static Classifier of(Checkpoints.Loaded loaded, ClassifierOptions options) {
        return of(loaded.manifest(), loaded.network(), options, true);
    }

    /**
     * A classifier over a trained network described by {@code manifest}, which stays the caller's and is
     * not changed (the classifier runs on a copy).
     */
    public static Classifier copyOf(Manifest manifest, ComputationGraph trained, ClassifierOptions options) {
        return of(manifest, trained, options, false);
    }

    private static Classifier of(Manifest manifest, ComputationGraph trained, ClassifierOptions options, boolean owned) {
        CNN2DFormat trainedLayout = CNN2DFormat.valueOf(manifest.input().layout());
        InferenceNetwork net;
        if (options.engine() == ClassifierOptions.Engine.ONNXRUNTIME || options.engine() == ClassifierOptions.Engine.CUDA) {
            try {
                ServingWeights sw = ServingWeights.of(trained, manifest.architecture());
                if (options.engine() == ClassifierOptions.Engine.ONNXRUNTIME) {
                    net = OnnxRuntimeNetwork.of(sw, options.threads());
                } else {
                    EngineProvider cuda = EngineProvider.find(ClassifierOptions.Engine.CUDA);
                    if (cuda == null) {
                        throw new IllegalStateException(ClassifierOptions.NOT_BUILT);
                    }
                    net = cuda.open(sw);
                }
            } finally { // copied out (or failed): an owned graph is not needed either way
                if (owned) {
                    Graphs.free(trained);
                }
            }
        } else if (options.serving()) {
            try {
                net = ServingNetwork.of(trained, manifest.architecture());
            } finally {
                if (owned) {
                    Graphs.free(trained);
                }
            }
        } else if (options.layout() != trainedLayout || !owned) {
            net = InferenceNetwork.of(LayoutCopy.of(trained, manifest.architecture(), options.layout()));
            if (owned) {
                Graphs.free(trained);
            }
        } else {
            net = InferenceNetwork.of(trained);
        }
        return new Classifier(manifest, net, options.layout());
    }

    public Manifest manifest() {
        return manifest;
    }

    /** The network this classifier runs (for inspection and benchmarks). */
    public InferenceNetwork network() {
        return net;
    }

    public CNN2DFormat layout() {
        return layout;
    }

    public List<String> labels() {
        return manifest.labels();
    }

    /**
     * Normalised network input (a new native array the caller closes) for images of the model's height and
     * width; gray images are expanded to RGB (and RGB reduced to gray) as the model needs.
     *
     * @throws IllegalArgumentException if an image has another height or width than the model's
     */
    public INDArray prepare(List<PixelImage> images) {
        if (images.isEmpty()) {
            throw new IllegalArgumentException("no images");
        }
        Manifest.InputSpec in = manifest.input();
        List<PixelImage> ready = new ArrayList<>(images.size());
        for (PixelImage img : images) {
            if (img.height() != in.height() || img.width() != in.width()) {
                throw new IllegalArgumentException("image is " + img.height() + "x" + img.width() + ", the model takes "
                        + in.height() + "x" + in.width());
            }
            ready.add(img.withChannels(in.channels()));
        }
        return Batches.features(ready, manifest.normalization(), layout);
    }

    /** Class probabilities {@code [n][classes]} for a batch of images. */
    public float[][] probabilities(List<PixelImage> images) {
        try (INDArray x = prepare(images)) {
            return probabilities(x);
        }
    }

    /** Class probabilities for already-normalised input in this classifier's {@link #layout()} (not kept). */
    public float[][] probabilities(INDArray normalized) {
        return net.probabilities(normalized);
    }

    /** The {@code k} most probable classes of each image, most probable first. */
    public List<List<ClassScore>> topK(List<PixelImage> images, int k) {
        float[][] p = probabilities(images);
        List<List<ClassScore>> out = new ArrayList<>(p.length);
        for (float[] row : p) {
            out.add(topK(row, k, manifest.labels()));
        }
        return out;
    }

    /** Top-k of one probability vector. */
    public static List<ClassScore> topK(float[] probabilities, int k, List<String> labels) {
        int n = Math.min(k, probabilities.length);
        List<ClassScore> top = new ArrayList<>(n);
        boolean[] taken = new boolean[probabilities.length];
        for (int j = 0; j < n; j++) {
            int best = -1;
            for (int i = 0; i < probabilities.length; i++) {
                if (!taken[i] && (best < 0 || probabilities[i] > probabilities[best])) {
                    best = i;
                }
            }
            taken[best] = true;
            top.add(new ClassScore(best, labels.get(best), probabilities[best]));
        }
        return top;
    }

    /** Frees the network's native memory (weights and buffers); the classifier cannot be used afterwards. */
    @Override
    public void close() {
        net.close();
    }
}
