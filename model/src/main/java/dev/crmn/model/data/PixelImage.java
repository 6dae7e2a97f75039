package dev.crmn.model.data;

import java.awt.image.BufferedImage;
import java.util.Objects;

/**
 * An 8-bit image, pixels interleaved row-major (height, width, channels): RGB for 3 channels, gray for 1.
 * The shape every reader and decoder in the project produces and that {@code Classifier} consumes.
 */
public record PixelImage(int height, int width, int channels, byte[] pixels) {

    public PixelImage {
        Objects.requireNonNull(pixels, "pixels");
        if (height <= 0 || width <= 0 || (channels != 1 && channels != 3)) {
            throw new IllegalArgumentException("bad image shape " + height + "x" + width + "x" + channels);
        }
        if ((long) height * width * channels != pixels.length) {
            throw new IllegalArgumentException("pixel buffer has " + pixels.length + " bytes, shape " + height + "x"
                    + width + "x" + channels + " needs " + ((long) height * width * channels));
        }
    }

    /** Value (0..255) of channel {@code c} at row {@code y}, column {@code x}. */
    public int value(int y, int x, int c) {
        return pixels[(y * width + x) * channels + c] & 0xFF;
    }

    /** RGB copy of a gray image (the image itself when it is RGB already). */
    public PixelImage toRgb() {
        if (channels == 3) {
            return this;
        }
        byte[] rgb = new byte[height * width * 3];
        for (int i = 0; i < height * width; i++) {
            rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = pixels[i];
        }
        return new PixelImage(height, width, 3, rgb);
    }

    /** Gray copy (ITU-R BT.601 luma) of an RGB image (the image itself when it is gray already). */
    public PixelImage toGray() {
        if (channels == 1) {
            return this;
        }
        byte[] g = new byte[height * width];
        for (int i = 0; i < g.length; i++) {
            int r = pixels[3 * i] & 0xFF, gr = pixels[3 * i + 1] & 0xFF, b = pixels[3 * i + 2] & 0xFF;
            g[i] = (byte) Math.round(0.299 * r + 0.587 * gr + 0.114 * b);
        }
        return new PixelImage(height, width, 1, g);
    }

    /** This image with {@code targetChannels} channels (gray to RGB or RGB to gray as needed). */
    public PixelImage withChannels(int targetChannels) {
        return targetChannels == 3 ? toRgb() : toGray();
    }

    /** Bilinear resize (the image itself when it already has that size). */
    public PixelImage resize(int h, int w) {
        if (h == height && w == width) {
            return this;
        }
        byte[] out = new byte[h * w * channels];
        double sy = (double) height / h, sx = (double) width / w;
        for (int y = 0; y < h; y++) {
            double fy = Math.max(0, (y + 0.5) * sy - 0.5);
            int y0 = Math.min((int) fy, height - 1), y1 = Math.min(y0 + 1, height - 1);
            double wy = fy - y0;
            for (int x = 0; x < w; x++) {
                double fx = Math.max(0, (x + 0.5) * sx - 0.5);
                int x0 = Math.min((int) fx, width - 1), x1 = Math.min(x0 + 1, width - 1);
                double wx = fx - x0;
                for (int c = 0; c < channels; c++) {
                    double v = (1 - wy) * ((1 - wx) * value(y0, x0, c) + wx * value(y0, x1, c))
                            + wy * ((1 - wx) * value(y1, x0, c) + wx * value(y1, x1, c));
                    out[(y * w + x) * channels + c] = (byte) Math.round(v);
                }
            }
        }
        return new PixelImage(h, w, channels, out);
    }

    /** Pixels of a decoded {@link BufferedImage}: gray images stay gray, everything else becomes RGB. */
    public static PixelImage of(BufferedImage img) {
        int h = img.getHeight(), w = img.getWidth();
        boolean gray = img.getType() == BufferedImage.TYPE_BYTE_GRAY
                || (img.getColorModel().getNumColorComponents() == 1 && img.getType() != BufferedImage.TYPE_BYTE_INDEXED);
        if (gray) {
            byte[] g = new byte[h * w];
            java.awt.image.Raster r = img.getRaster();
            int[] px = new int[r.getNumBands()];
            int depth = img.getColorModel().getComponentSize(0);
            for (int y = 0; y < h; y++) {
                for (int x = 0; x < w; x++) {
                    r.getPixel(x, y, px);
                    g[y * w + x] = (byte) (depth > 8 ? px[0] >> (depth - 8) : px[0]);
                }
            }
            return new PixelImage(h, w, 1, g);
        }
        int[] argb = img.getRGB(0, 0, w, h, null, 0, w);
        byte[] rgb = new byte[h * w * 3];
        for (int i = 0; i < argb.length; i++) {
            rgb[3 * i] = (byte) (argb[i] >> 16);
            rgb[3 * i + 1] = (byte) (argb[i] >> 8);
            rgb[3 * i + 2] = (byte) argb[i];
        }
        return new PixelImage(h, w, 3, rgb);
    }

    /** A {@link BufferedImage} of these pixels (for writing PNG). */
    public BufferedImage toBufferedImage() {
        if (channels == 1) {
            BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_BYTE_GRAY);
            img.getRaster().setDataElements(0, 0, width, height, pixels);
            return img;
        }
        BufferedImage img = new BufferedImage(width, height, BufferedImage.TYPE_INT_RGB);
        int[] rgb = new int[height * width];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = ((pixels[3 * i] & 0xFF) << 16) | ((pixels[3 * i + 1] & 0xFF) << 8) | (pixels[3 * i + 2] & 0xFF);
        }
        img.setRGB(0, 0, width, height, rgb, 0, width);
        return img;
    }
}
