package dev.crmn.model.cli;

import dev.crmn.model.train.EpochRecord;
import dev.crmn.model.train.TrainingListener;
import java.io.PrintStream;

/**
 * Training progress on stderr: a redrawn bar on a terminal, a line every 30 s otherwise (logs, CI).
 */
final class ProgressBar implements TrainingListener {

    private final PrintStream err = System.err;
    private final boolean tty = System.console() != null;
    private long lastLine;

    @Override
    public void onBatch(int epoch, long iteration, double progress, double loss, double accuracy, double ips, double lr) {
        long now = System.nanoTime();
        if (!tty && now - lastLine < 30_000_000_000L) {
            return;
        }
        if (tty && now - lastLine < 200_000_000L) {
            return;
        }
        lastLine = now;
        int width = 30;
        int filled = (int) Math.round(progress * width);
        String bar = "#".repeat(filled) + ".".repeat(width - filled);
        String line = String.format("epoch %3d [%s] %5.1f%%  loss %.4f  acc %s  %6.0f img/s  lr %.4f",
                epoch, bar, 100 * progress, loss, Double.isNaN(accuracy) ? "  -   " : String.format("%.4f", accuracy), ips, lr);
        if (tty) {
            err.print("\r" + line);
        } else {
            err.println(line);
        }
        err.flush();
    }

    @Override
    public void onEpoch(EpochRecord r) {
        if (tty) {
            err.print("\r" + " ".repeat(100) + "\r");
        }
        err.printf("epoch %3d  train loss %.4f acc %.4f | held-out loss %.4f acc %.4f | %5.0f img/s | %.0f s%n",
                r.epoch(), r.trainLoss(), r.trainAccuracy(), r.valLoss(), r.valAccuracy(), r.imagesPerSecond(),
                r.elapsedSeconds());
        err.flush();
    }
}
