package dev.crmn.jobs.finetune;

import dev.crmn.model.checkpoint.Manifest;
import dev.crmn.model.data.ImageSet;
import dev.crmn.model.data.LabelledImage;
import dev.crmn.model.data.PixelImage;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;

/**
 * The labelled frames a trainer keeps, and what a round trains and is judged on. One job: where each frame goes.
 * <ul>
 *   <li>The <b>holdout</b> ({@link Holdout}): the frames whose decoded pixels hash into {@code --holdout-percent}; an
 *       image rotated out of it, or retired after deciding {@code --holdout-max-uses} rounds, becomes training data.</li>
 *   <li>The <b>new frames</b> not trained on yet, at most {@link #maxNewFrames()} (four rounds' worth): on a first start
 *       against a long backlog the overflow feeds only the reservoir, so memory and state stay bounded.</li>
 *   <li>The <b>reservoir</b> ({@link Reservoir}): a uniform sample of every training frame seen, for replay.</li>
 * </ul>
 * All of it is operator state; bounded by {@code --holdout-size}, four rounds of frames and {@code --reservoir-size}.
 * Not thread-safe (the task thread's).
 */
public final class TrainingFrames {

    static final long SEED = 0x5eed;

    private final RoundSettings settings;
    private final Reservoir reservoir;
    private final Holdout holdout;
    private final List<Example> fresh;

    /** What a round trains on ({@code newFrames} first, then replay, then anchor) and is judged on. */
    record Round(long number, List<Example> newFrames, int replayed, int anchored, List<Example> train,
                 List<Example> judged) {

        ImageSet trainSet(Manifest m) {
            return imageSet(train, m, "round " + number + ": " + newFrames.size() + " new + " + replayed + " replayed"
                    + (anchored > 0 ? " + " + anchored + " anchor" : ""));
        }

        ImageSet holdoutSet(Manifest m) {
            return imageSet(judged, m, "holdout " + judged.size());
        }

        /** The lineage a version promoted from this round carries in its manifest. */
        Map<String, Object> lineage(String sourceTopic) {
            Map<String, Object> l = new LinkedHashMap<>();
            l.put("source_topic", sourceTopic);
            l.put("offset_ranges", offsetRanges(newFrames));
            l.put("new_frames", newFrames.size());
            l.put("replayed_frames", replayed);
            l.put("anchor_images", anchored);
            l.put("holdout", judged.size());
            l.put("round", number);
            return l;
        }
    }

    TrainingFrames(RoundSettings settings) {
        this(settings, List.of(), 0, List.of(), 0, List.of());
    }

    /** Restored from state. */
    TrainingFrames(RoundSettings settings, List<Example> reservoir, long reservoirSeen, List<Holdout.Held> holdout,
                   long holdoutSeen, List<Example> newFrames) {
        this.settings = settings;
        this.reservoir = new Reservoir(settings.reservoirSize(), SEED, reservoir, reservoirSeen);
        this.holdout = new Holdout(settings.holdoutSize(), settings.holdoutMaxUses(), holdout, holdoutSeen);
        this.fresh = new ArrayList<>(newFrames.size() > maxNewFrames()
                ? newFrames.subList(0, maxNewFrames()) : newFrames); // state of a larger --round-frames
    }

    /** A labelled frame: to the holdout, or to the new frames (while there is room) and the reservoir. */
    void offer(Example e) {
        if (inHoldout(e.pixels(), settings.holdoutPercent())) {
            Example out = holdout.offer(e);
            if (out != null) {
                reservoir.offer(out); // rotated out of a full holdout: training data from now on
            }
        } else {
            if (fresh.size() < maxNewFrames()) {
                fresh.add(e);
            } // else: catching up on a long backlog; the overflow feeds only the reservoir (state stays bounded)
            reservoir.offer(e);
        }
    }

    /** Whether enough new frames arrived for a round. */
    boolean roundReady() {
        return fresh.size() >= settings.roundFrames();
    }

    /** The most new frames kept for the next rounds. */
    int maxNewFrames() {
        return 4 * settings.roundFrames();
    }

    /**
     * The data of round {@code number}: every new frame kept ({@code quiet}: none), replay and {@code anchor} images
     * as {@link RoundMix} says, sampled with a seed of the round; judged on the whole holdout.
     */
    Round plan(long number, boolean quiet, List<Example> anchor) {
        int used = quiet ? 0 : fresh.size();
        List<Example> newOnes = new ArrayList<>(fresh.subList(0, used));
        RoundMix mix = RoundMix.of(used, reservoir.size(), anchor.size(), settings);
        SplittableRandom rng = new SplittableRandom(SEED ^ number);
        List<Example> replay = reservoir.sample(mix.replayed(), rng);
        List<Example> train = new ArrayList<>(newOnes);
        train.addAll(replay);
        train.addAll(Reservoir.sample(anchor, mix.anchored(), rng));
        return new Round(number, newOnes, replay.size(), mix.anchored(), train, holdout.examples());
    }

    /**
     * Round {@code r} was judged: its new frames are new no more, and the holdout images that have now decided
     * {@code --holdout-max-uses} rounds become training data.
     */
    void judged(Round r) {
        fresh.subList(0, Math.min(r.newFrames().size(), fresh.size())).clear();
        for (Example retired : holdout.decided(r.judged())) {
            reservoir.offer(retired);
        }
    }

    int newFrames() {
        return fresh.size();
    }

    Reservoir reservoir() {
        return reservoir;
    }

    Holdout holdout() {
        return holdout;
    }

    /** The new frames, for state (a copy). */
    List<Example> newFrameList() {
        return List.copyOf(fresh);
    }

    /**
     * Whether an image belongs to the holdout: by a hash of its decoded pixels, so the same image sent again (a
     * producer run twice, a client without frame ids) lands on the same side, never in training and holdout both.
     */
    public static boolean inHoldout(byte[] pixels, int holdoutPercent) {
        long h = 0xcbf29ce484222325L; // FNV-1a, 64 bit
        for (byte b : pixels) {
            h ^= b & 0xff;
            h *= 0x100000001b3L;
        }
        h ^= h >>> 33; // mix the high bits into the low ones before the remainder
        h *= 0xff51afd7ed558ccdL;
        h ^= h >>> 33;
        return Long.remainderUnsigned(h, 100) < holdoutPercent;
    }

    /** Per partition of the labelled topic: the first and last offset of the frames a round trained on. */
    private static List<Map<String, Object>> offsetRanges(List<Example> frames) {
        TreeMap<Integer, long[]> r = new TreeMap<>();
        for (Example e : frames) {
            r.merge(e.partition(), new long[]{e.offset(), e.offset()},
                    (a, b) -> new long[]{Math.min(a[0], b[0]), Math.max(a[1], b[1])});
        }
        List<Map<String, Object>> out = new ArrayList<>();
        r.forEach((p, range) -> out.add(Map.of("partition", p, "from", range[0], "to", range[1])));
        return out;
    }

    static ImageSet imageSet(List<Example> examples, Manifest m, String description) {
        int h = m.input().height(), w = m.input().width(), c = m.input().channels();
        List<LabelledImage> images = new ArrayList<>(examples.size());
        for (Example e : examples) {
            images.add(new LabelledImage(new PixelImage(h, w, c, e.pixels()), e.label()));
        }
        return ImageSet.of(images, m.labels(), h, w, c, description);
    }
}
