package dev.crmn.model.train;

import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.Font;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.util.List;
import java.util.function.ToDoubleFunction;

/** Renders training curves (loss and accuracy per epoch, training and held-out) as a PNG. */
public final class TrainingPlot {

    private static final int W = 1000;
    private static final int H = 420;
    private static final Color TRAIN = new Color(31, 119, 180);
    private static final Color VAL = new Color(214, 39, 40);

    private TrainingPlot() {
    }

    public static byte[] png(String title, List<EpochRecord> history) {
        System.setProperty("java.awt.headless", "true");
        BufferedImage img = new BufferedImage(W, H, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = img.createGraphics();
        g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
        g.setColor(Color.WHITE);
        g.fillRect(0, 0, W, H);
        g.setColor(Color.BLACK);
        g.setFont(new Font(Font.SANS_SERIF, Font.BOLD, 15));
        g.drawString(title, 20, 22);
        panel(g, 0, "loss", history, EpochRecord::trainLoss, EpochRecord::valLoss, false);
        panel(g, W / 2, "accuracy", history, EpochRecord::trainAccuracy, EpochRecord::valAccuracy, true);
        g.dispose();
        try {
            return dev.crmn.model.data.ImageBytes.encode(img, "png");
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    private static void panel(Graphics2D g, int x0, String name, List<EpochRecord> h, ToDoubleFunction<EpochRecord> train,
                              ToDoubleFunction<EpochRecord> val, boolean unit) {
        int left = x0 + 60, right = x0 + W / 2 - 20, top = 45, bottom = H - 50;
        double max = unit ? 1 : 0;
        double min = 0;
        for (EpochRecord r : h) {
            for (double v : new double[]{train.applyAsDouble(r), val.applyAsDouble(r)}) {
                if (Double.isFinite(v)) {
                    max = Math.max(max, v);
                }
            }
        }
        if (max <= min) {
            max = 1;
        }
        int epochs = Math.max(1, h.isEmpty() ? 1 : h.get(h.size() - 1).epoch());
        g.setFont(new Font(Font.SANS_SERIF, Font.PLAIN, 12));
        g.setColor(new Color(230, 230, 230));
        for (int i = 0; i <= 5; i++) {
            int y = bottom - (bottom - top) * i / 5;
            g.drawLine(left, y, right, y);
        }
        g.setColor(Color.BLACK);
        g.drawRect(left, top, right - left, bottom - top);
        for (int i = 0; i <= 5; i++) {
            int y = bottom - (bottom - top) * i / 5;
            g.drawString(String.format("%.2f", min + (max - min) * i / 5), x0 + 15, y + 4);
        }
        for (int i = 0; i <= Math.min(epochs, 10); i++) {
            int e = epochs * i / Math.min(epochs, 10);
            int x = left + (right - left) * e / epochs;
            g.drawString(Integer.toString(e), x - 4, bottom + 16);
        }
        g.drawString("epoch", (left + right) / 2 - 15, bottom + 34);
        g.drawString(name, left + 5, top - 6);
        line(g, h, train, TRAIN, left, right, top, bottom, min, max, epochs);
        line(g, h, val, VAL, left, right, top, bottom, min, max, epochs);
        g.setColor(TRAIN);
        g.drawString("train", right - 90, top + 18);
        g.setColor(VAL);
        g.drawString("held-out", right - 90, top + 34);
    }

    private static void line(Graphics2D g, List<EpochRecord> h, ToDoubleFunction<EpochRecord> f, Color c, int left,
                             int right, int top, int bottom, double min, double max, int epochs) {
        g.setColor(c);
        g.setStroke(new BasicStroke(2f));
        int px = -1, py = -1;
        for (EpochRecord r : h) {
            double v = f.applyAsDouble(r);
            if (!Double.isFinite(v)) {
                continue;
            }
            int x = left + (int) ((right - left) * (double) r.epoch() / epochs);
            int y = bottom - (int) ((bottom - top) * (v - min) / (max - min));
            if (px >= 0) {
                g.drawLine(px, py, x, y);
            }
            g.fillOval(x - 3, y - 3, 6, 6);
            px = x;
            py = y;
        }
        g.setStroke(new BasicStroke(1f));
    }
}
