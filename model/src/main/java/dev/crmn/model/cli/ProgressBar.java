package dev.crmn.model.cli;

import dev.crmn.model.train.EpochRecord;
import dev.crmn.model.train.TrainingListener;

/** Training progress on stderr (see {@link Progress}) and one line per epoch. */
final class ProgressBar implements TrainingListener {

    private final Progress progress = new Progress();

    /** A 30-character bar for a fraction in [0, 1]. */
    static String bar(double fraction) {
        int width = 30;
        int filled = (int) Math.round(Math.min(1, Math.max(0, fraction)) * width);
        return "[" + "#".repeat(filled) + ".".repeat(width - filled) + "]";
    }

    @Override
    public void onBatch(int epoch, long iteration, double fraction, double loss, double accuracy, double ips, double lr) {
        String line = String.format("epoch %3d %s %5.1f%%  loss %.4f  acc %s  %6.0f img/s  lr %.4f", epoch,
                bar(fraction), 100 * fraction, loss, Double.isNaN(accuracy) ? "  -   " : String.format("%.4f", accuracy),
                ips, lr);
        if (fraction >= 1) {
            progress.done(line); // the last step: the bar ends at 100 %, whatever the throttle skipped
        } else {
            progress.update(line);
        }
    }

    @Override
    public void onEpoch(EpochRecord r) {
        progress.clear();
        System.err.printf("epoch %3d  train loss %.4f acc %.4f | held-out loss %.4f acc %.4f | %5.0f img/s | %.0f s%n",
                r.epoch(), r.trainLoss(), r.trainAccuracy(), r.valLoss(), r.valAccuracy(), r.imagesPerSecond(),
                r.elapsedSeconds());
    }
}
