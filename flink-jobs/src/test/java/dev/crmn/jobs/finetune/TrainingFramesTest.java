package dev.crmn.jobs.finetune;

import static org.assertj.core.api.Assertions.assertThat;

import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Where each labelled frame goes, what a round trains and is judged on, and what stays after it. */
class TrainingFramesTest {

    static RoundSettings settings(int roundFrames, int holdoutPercent, int holdoutSize, int maxUses, int reservoir) {
        return new RoundSettings("crmn-demo", "/unused", null, null, roundFrames, 60_000, 10, 8, 0.01, 0.9,
                holdoutPercent, holdoutSize, maxUses, reservoir, 1, "frames-labelled", null,
                new PromotionGate(0.05, 0.5, 5), 3, null);
    }

    static Example frame(int i) {
        return new Example(pixels(i), i % 10, i % 2, i);
    }

    /** A 32x32x3 image of its own for each {@code i} (seeded noise). */
    static byte[] pixels(long i) {
        byte[] b = new byte[32 * 32 * 3];
        new java.util.SplittableRandom(i).nextBytes(b);
        return b;
    }

    /** The first frame from {@code from} on that lands in a holdout of {@code percent}. */
    static int firstHeld(int from, int percent) {
        int i = from;
        while (!TrainingFrames.inHoldout(frame(i).pixels(), percent)) {
            i++;
        }
        return i;
    }

    @Test
    void framesSplitByTheirPixelsAndTheSameImageUnderAnotherIdLandsOnTheSameSide() {
        TrainingFrames f = new TrainingFrames(settings(1000, 30, 1000, 10, 1000));
        int held = 0;
        for (int i = 0; i < 200; i++) {
            f.offer(frame(i));
            held += TrainingFrames.inHoldout(frame(i).pixels(), 30) ? 1 : 0;
        }
        assertThat(held).as("about 30 %% of 200").isBetween(35, 85);
        assertThat(f.holdout().size()).isEqualTo(held);
        assertThat(f.newFrames()).isEqualTo(200 - held);
        assertThat(f.reservoir().size()).isEqualTo(200 - held);

        Example again = new Example(frame(7).pixels().clone(), 7, 1, 9999); // re-sent: another id, another offset
        f.offer(again);
        boolean held7 = TrainingFrames.inHoldout(frame(7).pixels(), 30);
        assertThat(f.holdout().size()).isEqualTo(held + (held7 ? 1 : 0));
        assertThat(f.newFrames()).isEqualTo(200 - held + (held7 ? 0 : 1));
    }

    @Test
    void aLongBacklogKeepsFourRoundsOfNewFramesAndFeedsTheRestToTheReservoirOnly() {
        TrainingFrames f = new TrainingFrames(settings(50, 10, 100, 10, 300));
        for (int i = 0; i < 5000; i++) {
            f.offer(frame(i));
        }
        assertThat(f.newFrames()).isEqualTo(f.maxNewFrames()).isEqualTo(200);
        assertThat(f.reservoir().size()).isEqualTo(300);
        assertThat(f.reservoir().seen()).as("every training frame was offered to the reservoir")
                .isEqualTo(5000 - f.holdout().seen() + (f.holdout().seen() - f.holdout().size()));
        assertThat(f.holdout().size()).isEqualTo(100);
        assertThat(f.roundReady()).isTrue();
    }

    @Test
    void aRoundTrainsOnItsNewFramesAndReplayAndIsJudgedOnTheHoldoutThenTheyAreNewNoMore() {
        TrainingFrames f = new TrainingFrames(settings(20, 20, 100, 2, 1000));
        for (int i = 0; i < 60; i++) {
            f.offer(frame(i));
        }
        int fresh = f.newFrames();
        TrainingFrames.Round r = f.plan(1, false, List.of());
        assertThat(r.newFrames()).hasSize(fresh);
        assertThat(r.train()).hasSize(fresh + r.replayed());
        assertThat(r.replayed()).as("at least as many replayed as new (settings: 10 steps x 8 = 80 images)")
                .isEqualTo(Math.min(f.reservoir().size(), Math.max(fresh, 80 - fresh)));
        assertThat(r.judged()).containsExactlyElementsOf(f.holdout().examples());
        int late = 1000;
        while (TrainingFrames.inHoldout(frame(late).pixels(), 20)) {
            late++;
        }
        f.offer(frame(late)); // a training frame arriving during the round
        f.judged(r);
        assertThat(f.newFrameList()).extracting(Example::offset).containsExactly((long) late);

        TrainingFrames.Round quiet = f.plan(2, true, List.of());
        assertThat(quiet.newFrames()).isEmpty();
        assertThat(quiet.train()).hasSize(quiet.replayed()).isNotEmpty();
        int heldBefore = f.holdout().size();
        long reservoirSeen = f.reservoir().seen();
        f.judged(quiet); // the holdout images have now decided 2 rounds, --holdout-max-uses: training data now
        assertThat(f.holdout().size()).isZero();
        assertThat(f.reservoir().seen()).isEqualTo(reservoirSeen + heldBefore);
    }

    @Test
    @SuppressWarnings("unchecked")
    void anAnchorTakesItsShareAndTheLineageNamesTheOffsetsTrainedOn() {
        RoundSettings s = settings(20, 10, 100, 10, 1000);
        s = new RoundSettings(s.modelName(), s.storeUri(), null, null, 20, 60_000, 10, 8, 0.01, 0.9, 10, 100, 10, 1000, 1,
                "frames-labelled", null, s.gate(), 3, new Anchor(List.of("unused.bin"), 100, 0.25));
        TrainingFrames f = new TrainingFrames(s);
        for (int i = 0; i < 40; i++) {
            f.offer(frame(i));
        }
        List<Example> anchor = java.util.stream.IntStream.range(5000, 5100).mapToObj(TrainingFramesTest::frame).toList();
        TrainingFrames.Round r = f.plan(3, false, anchor);
        assertThat(r.anchored()).isEqualTo(20); // 25 % of 10 x 8
        assertThat(r.train()).hasSize(r.newFrames().size() + r.replayed() + 20);
        Map<String, Object> l = r.lineage("frames-labelled");
        assertThat(l).containsEntry("round", 3L).containsEntry("new_frames", r.newFrames().size())
                .containsEntry("anchor_images", 20).containsEntry("holdout", r.judged().size());
        long firstOdd = r.newFrames().stream().filter(e -> e.partition() == 1).mapToLong(Example::offset).min().orElseThrow();
        assertThat((List<Object>) l.get("offset_ranges")).contains((Object) Map.of("partition", 1, "from", firstOdd, "to",
                r.newFrames().stream().filter(e -> e.partition() == 1).mapToLong(Example::offset).max().orElseThrow()));
    }

    @Test
    void stateOfALargerRoundSizeIsCutToFourRoundsOnRestore() {
        List<Example> many = java.util.stream.IntStream.range(0, 500).mapToObj(TrainingFramesTest::frame).toList();
        TrainingFrames f = new TrainingFrames(settings(50, 10, 100, 10, 300), List.of(), 0, List.of(), 0, many);
        assertThat(f.newFrames()).isEqualTo(200);
        assertThat(f.newFrameList()).containsExactlyElementsOf(many.subList(0, 200));
    }
}
