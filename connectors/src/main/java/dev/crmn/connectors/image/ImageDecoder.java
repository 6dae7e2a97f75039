package dev.crmn.connectors.image;

import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.FrameRejectedException;
import dev.crmn.model.data.PixelImage;
import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;

/**
 * Decodes frame bytes into pixels safely: PNG and JPEG through the JDK's ImageIO, raw rgb8/gray8 directly.
 * The byte budget is checked first, then the image header is read and the pixel budget checked
 * <em>before</em> any pixel is decoded, so a small file that claims a huge size never allocates it. Every
 * failure is a {@link FrameRejectedException} naming its dead-letter reason; nothing else escapes.
 * Thread-safe (stateless apart from its settings).
 */
public final class ImageDecoder implements java.io.Serializable {

    private final DecoderSettings settings;

    public ImageDecoder(DecoderSettings settings) {
        this.settings = settings;
    }

    public DecoderSettings settings() {
        return settings;
    }

    /** Decoded pixels of {@code value}, not yet fitted to any model. */
    public PixelImage decode(ContentType type, byte[] value) throws FrameRejectedException {
        if (value == null || value.length == 0) {
            throw new FrameRejectedException(DeadLetterReason.EMPTY_VALUE, "the frame has no bytes");
        }
        if (value.length > settings.maxBytes()) {
            throw new FrameRejectedException(DeadLetterReason.TOO_LARGE, "frame has " + value.length
                    + " bytes, the limit is " + settings.maxBytes());
        }
        return type.kind() == ContentType.Kind.RAW ? decodeRaw(type, value) : decodeCompressed(type, value);
    }

    private PixelImage decodeRaw(ContentType type, byte[] value) throws FrameRejectedException {
        checkPixels(type.width(), type.height());
        long expected = (long) type.width() * type.height() * type.rawFormat().channels();
        if (value.length != expected) {
            throw new FrameRejectedException(DeadLetterReason.WRONG_DIMENSIONS, "raw " + type.rawFormat().name().toLowerCase(Locale.ROOT)
                    + " frame declares " + type.width() + "x" + type.height() + " (" + expected + " bytes) but has "
                    + value.length + " bytes");
        }
        return new PixelImage(type.height(), type.width(), type.rawFormat().channels(), value.clone());
    }

    private PixelImage decodeCompressed(ContentType type, byte[] value) throws FrameRejectedException {
        String expected = type.kind() == ContentType.Kind.PNG ? "png" : "jpeg";
        try (ImageInputStream in = ImageIO.createImageInputStream(new ByteArrayInputStream(value))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new FrameRejectedException(DeadLetterReason.UNDECODABLE_IMAGE,
                        "the bytes are not a " + expected.toUpperCase(Locale.ROOT) + " image (no decoder recognises them)");
            }
            ImageReader reader = readers.next();
            String actual = reader.getFormatName().toLowerCase(Locale.ROOT);
            if (!actual.equals("png") && !actual.equals("jpeg")) {
                reader.dispose();
                throw new FrameRejectedException(DeadLetterReason.UNKNOWN_CONTENT_TYPE,
                        "the bytes are a " + actual + " image; only PNG and JPEG are accepted");
            }
            try {
                reader.setInput(in, true, true);
                int w = reader.getWidth(0);
                int h = reader.getHeight(0);
                checkPixels(w, h);
                BufferedImage img = reader.read(0);
                if (img == null) {
                    throw new FrameRejectedException(DeadLetterReason.UNDECODABLE_IMAGE, "the " + actual + " decoder returned nothing");
                }
                return PixelImage.of(img);
            } finally {
                reader.dispose();
            }
        } catch (FrameRejectedException e) {
            throw e;
        } catch (IOException | RuntimeException e) {
            throw new FrameRejectedException(DeadLetterReason.UNDECODABLE_IMAGE, "cannot decode " + expected.toUpperCase(Locale.ROOT)
                    + ": " + e.getClass().getSimpleName() + (e.getMessage() == null ? "" : ": " + e.getMessage()), e);
        }
    }

    private void checkPixels(long w, long h) throws FrameRejectedException {
        if (w <= 0 || h <= 0) {
            throw new FrameRejectedException(DeadLetterReason.UNDECODABLE_IMAGE, "image claims a size of " + w + "x" + h);
        }
        if (w * h > settings.maxPixels()) {
            throw new FrameRejectedException(DeadLetterReason.TOO_LARGE, "image is " + w + "x" + h + " = " + (w * h)
                    + " pixels, the limit is " + settings.maxPixels());
        }
    }

    /**
     * The image fitted to a model input: channels converted (gray to RGB or back), then resized or
     * refused according to the size policy.
     */
    public PixelImage fit(PixelImage img, int height, int width, int channels) throws FrameRejectedException {
        PixelImage c = img.withChannels(channels);
        if (c.height() == height && c.width() == width) {
            return c;
        }
        if (settings.sizePolicy() == DecoderSettings.SizePolicy.REFUSE) {
            throw new FrameRejectedException(DeadLetterReason.WRONG_DIMENSIONS, "image is " + img.width() + "x" + img.height()
                    + ", the model takes " + width + "x" + height + " and the size policy is refuse");
        }
        return c.resize(height, width);
    }
}
