package dev.crmn.model.data;

import java.util.List;
import java.util.Random;
import org.deeplearning4j.nn.conf.CNN2DFormat;
import org.nd4j.linalg.api.ndarray.INDArray;
import org.nd4j.linalg.factory.Nd4j;

/**
 * Turns 8-bit images into normalised network input, optionally augmented (random crop from the image
 * zero-padded by {@value #PAD} pixels — black before normalisation — and a random horizontal flip).
 */
public final class Batches {

    public static final int PAD = 4;

    private Batches() {
    }

    /** Normalised features of images {@code idx} of {@code set}, in the given layout. */
    public static INDArray features(ImageSet set, int[] idx, Normalization norm, CNN2DFormat layout,
                                    Random augment) {
        return features(set, idx, norm, layout, augment, 0);
    }

    /**
     * As {@link #features(ImageSet, int[], Normalization, CNN2DFormat, Random)}; with {@code augment} and
     * {@code cutout} above 0 each image also has a {@code cutout}-pixel square, centred anywhere on the image (so
     * it may be cut by the border), set to 0 after normalisation, the data's mean (cutout, DeVries and Taylor 2017).
     */
    public static INDArray features(ImageSet set, int[] idx, Normalization norm, CNN2DFormat layout,
                                    Random augment, int cutout) {
        if (cutout < 0) {
            throw new IllegalArgumentException("cutout must be >= 0 pixels, got " + cutout);
        }
        int h = set.height(), w = set.width(), c = set.channels();
        float[] black = new float[c];
        for (int k = 0; k < c; k++) {
            black[k] = norm.apply(0, k);
        }
        float[] buf = new float[idx.length * h * w * c];
        int per = h * w * c;
        for (int b = 0; b < idx.length; b++) {
            int i = idx[b];
            int dy = 0, dx = 0;
            boolean flip = false;
            if (augment != null) {
                dy = augment.nextInt(2 * PAD + 1) - PAD;
                dx = augment.nextInt(2 * PAD + 1) - PAD;
                flip = augment.nextBoolean();
            }
            int cy0 = 0, cy1 = 0, cx0 = 0, cx1 = 0; // the cut square [cy0, cy1) x [cx0, cx1), empty by default
            if (augment != null && cutout > 0) {
                int cy = augment.nextInt(h), cx = augment.nextInt(w);
                cy0 = cy - cutout / 2;
                cy1 = cy0 + cutout;
                cx0 = cx - cutout / 2;
                cx1 = cx0 + cutout;
            }
            int o = b * per;
            for (int y = 0; y < h; y++) {
                int sy = y + dy;
                boolean cutRow = y >= cy0 && y < cy1;
                for (int x = 0; x < w; x++) {
                    int sx = (flip ? w - 1 - x : x) + dx;
                    boolean inside = sy >= 0 && sy < h && sx >= 0 && sx < w;
                    if (cutRow && x >= cx0 && x < cx1) {
                        o += c; // left at 0
                        continue;
                    }
                    for (int k = 0; k < c; k++) {
                        buf[o++] = inside ? norm.apply(set.pixel(i, (sy * w + sx) * c + k), k) : black[k];
                    }
                }
            }
        }
        INDArray nhwc = Nd4j.create(buf, new long[]{idx.length, h, w, c}, 'c');
        return layout == CNN2DFormat.NHWC ? nhwc : nhwc.permute(0, 3, 1, 2).dup('c');
    }

    /** Normalised features of arbitrary images, which must already have the network's shape. */
    public static INDArray features(List<PixelImage> images, Normalization norm, CNN2DFormat layout) {
        PixelImage first = images.get(0);
        int h = first.height(), w = first.width(), c = first.channels();
        int per = h * w * c;
        float[] buf = new float[images.size() * per];
        for (int b = 0; b < images.size(); b++) {
            PixelImage img = images.get(b);
            if (img.height() != h || img.width() != w || img.channels() != c) {
                throw new IllegalArgumentException("image " + b + " is " + img.height() + "x" + img.width() + "x"
                        + img.channels() + ", expected " + h + "x" + w + "x" + c);
            }
            byte[] px = img.pixels();
            for (int k = 0; k < per; k++) {
                buf[b * per + k] = norm.apply(px[k] & 0xFF, k % c);
            }
        }
        INDArray nhwc = Nd4j.create(buf, new long[]{images.size(), h, w, c}, 'c');
        return layout == CNN2DFormat.NHWC ? nhwc : nhwc.permute(0, 3, 1, 2).dup('c');
    }

    /** One-hot labels {@code [n, classes]}. */
    public static INDArray oneHot(ImageSet set, int[] idx) {
        int k = set.classNames().size();
        float[] buf = new float[idx.length * k];
        for (int b = 0; b < idx.length; b++) {
            buf[b * k + set.label(idx[b])] = 1f;
        }
        return Nd4j.create(buf, new long[]{idx.length, k}, 'c');
    }
}
