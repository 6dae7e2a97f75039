package dev.crmn.jobs.finetune;

/**
 * What a round trains on, besides its new frames: {@code replayed} samples of the reservoir and {@code anchored}
 * anchor images. A round's steps see {@code steps * batchSize} images; the anchor takes its share of them, replay
 * fills the rest (at least as many replayed as new frames, so a round never trains on the new frames alone), each
 * bounded by what there is. A quiet round (no new frames) is replay and anchor only.
 */
record RoundMix(int replayed, int anchored) {

    static RoundMix of(int newFrames, int reservoirSize, int anchorSize, RoundSettings settings) {
        long roundImages = (long) settings.steps() * settings.batchSize();
        int anchored = anchorSize == 0 || settings.anchor() == null ? 0
                : (int) Math.min(anchorSize, Math.round(roundImages * settings.anchor().share()));
        long fill = Math.max(0, roundImages - newFrames - anchored);
        int replayed = (int) Math.min(reservoirSize, Math.max(newFrames, fill));
        return new RoundMix(replayed, anchored);
    }
}
