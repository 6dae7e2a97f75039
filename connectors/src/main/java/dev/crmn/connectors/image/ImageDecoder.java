package dev.crmn.connectors.image;

import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.FrameRejectedException;
import dev.crmn.model.data.PixelImage;
import dev.crmn.model.data.ImageBytes;
import java.util.Locale;

/**
 * Decodes frame bytes into pixels safely: PNG and JPEG through {@link ImageBytes} (ImageIO without its disk
 * cache, pixel budget checked from the header before decoding), raw rgb8/gray8 directly. The byte budget is
 * checked first. Every failure of the bytes is a {@link FrameRejectedException} naming its dead-letter reason;
 * an unexpected {@code RuntimeException} from ImageIO is passed on (the caller reports it as
 * {@code internal-error}) and {@code Error}s propagate. Thread-safe (stateless apart from its settings).
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
        try {
            return ImageBytes.decode(value, settings.maxPixels());
        } catch (ImageBytes.DecodeException e) {
            DeadLetterReason reason = switch (e.failure()) {
                case UNSUPPORTED_FORMAT -> DeadLetterReason.UNKNOWN_CONTENT_TYPE;
                case TOO_LARGE -> DeadLetterReason.TOO_LARGE;
                case NOT_AN_IMAGE, CORRUPT -> DeadLetterReason.UNDECODABLE_IMAGE;
            };
            String claimed = type.kind() == ContentType.Kind.PNG ? "PNG" : "JPEG";
            throw new FrameRejectedException(reason, claimed + " frame: " + e.getMessage(), e);
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
