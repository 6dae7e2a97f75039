package dev.crmn.model.data;

import java.awt.image.BufferedImage;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.util.Iterator;
import java.util.Locale;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes PNG and JPEG bytes with the JDK's ImageIO, safely: the image header is read and the pixel budget
 * checked <em>before</em> any pixel is decoded, so a small file that claims a huge size never allocates it;
 * and the bytes are read through an in-memory stream, never ImageIO's disk cache (which writes a temporary
 * file per image: 3× the cost of the decode itself, and a failure where the temp directory is unwritable).
 * Stateless and thread-safe. The one place the project decodes compressed images (frames, image folders).
 */
public final class ImageBytes {

    /** Why bytes could not be decoded. */
    public enum Failure {
        /** No ImageIO reader recognises the bytes. */
        NOT_AN_IMAGE,
        /** An image, but neither PNG nor JPEG. */
        UNSUPPORTED_FORMAT,
        /** The header claims more pixels than allowed (or a non-positive size). */
        TOO_LARGE,
        /** The image is truncated or corrupt. */
        CORRUPT
    }

    /** Bytes that cannot be decoded; {@link #failure()} says why. */
    public static final class DecodeException extends IOException {
        private final Failure failure;

        public DecodeException(Failure failure, String message, Throwable cause) {
            super(message, cause);
            this.failure = failure;
        }

        public Failure failure() {
            return failure;
        }
    }

    private ImageBytes() {
    }

    /**
     * The pixels of PNG or JPEG {@code bytes}.
     *
     * @param maxPixels the largest accepted width x height, checked from the header
     * @throws DecodeException if the bytes are not a PNG/JPEG image within the budget
     * @throws RuntimeException when ImageIO fails unexpectedly (passed on, not disguised as a bad image)
     */
    public static PixelImage decode(byte[] bytes, long maxPixels) throws DecodeException {
        try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(bytes))) {
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new DecodeException(Failure.NOT_AN_IMAGE, "the bytes are not a PNG or JPEG image (no decoder "
                        + "recognises them)", null);
            }
            ImageReader reader = readers.next();
            try {
                String format = reader.getFormatName().toLowerCase(Locale.ROOT);
                if (!format.equals("png") && !format.equals("jpeg")) {
                    throw new DecodeException(Failure.UNSUPPORTED_FORMAT, "the bytes are a " + format
                            + " image; only PNG and JPEG are accepted", null);
                }
                reader.setInput(in, true, true);
                long w = reader.getWidth(0);
                long h = reader.getHeight(0);
                if (w <= 0 || h <= 0 || w * h > maxPixels) {
                    throw new DecodeException(Failure.TOO_LARGE, "image is " + w + "x" + h + " = " + (w * h)
                            + " pixels, the limit is " + maxPixels, null);
                }
                BufferedImage img = reader.read(0);
                if (img == null) {
                    throw new DecodeException(Failure.CORRUPT, "the " + format + " decoder returned nothing", null);
                }
                return PixelImage.of(img);
            } finally {
                reader.dispose();
            }
        } catch (DecodeException e) {
            throw e;
        } catch (IOException e) {
            throw new DecodeException(Failure.CORRUPT, "cannot decode: " + e.getClass().getSimpleName()
                    + (e.getMessage() == null ? "" : ": " + e.getMessage()), e);
        }
    }

    /** {@code img} encoded as PNG (or {@code format}, e.g. "jpeg"), through memory: no temp file. */
    public static byte[] encode(java.awt.image.RenderedImage img, String format) throws IOException {
        java.io.ByteArrayOutputStream bytes = new java.io.ByteArrayOutputStream();
        try (javax.imageio.stream.ImageOutputStream out = new javax.imageio.stream.MemoryCacheImageOutputStream(bytes)) {
            if (!ImageIO.write(img, format, out)) {
                throw new IOException("no " + format + " encoder");
            }
        }
        return bytes.toByteArray();
    }

    /** {@code img} as PNG bytes (see {@link #encode}). */
    public static byte[] png(PixelImage img) throws IOException {
        return encode(img.toBufferedImage(), "png");
    }
}
