package dev.crmn.connectors.image;

import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.FrameRejectedException;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;

/**
 * A frame's content type: {@code image/png}, {@code image/jpeg} ({@code image/jpg} is accepted), or
 * {@code application/x-raw; format=rgb8|gray8; width=W; height=H} (8-bit pixels, row-major, RGB
 * interleaved). Without a header, PNG and JPEG are recognised by their magic bytes; raw frames must say
 * their layout.
 */
public record ContentType(Kind kind, RawFormat rawFormat, int width, int height) {

    /** The families of content. */
    public enum Kind { PNG, JPEG, RAW }

    /** Raw pixel formats. */
    public enum RawFormat {
        RGB8(3), GRAY8(1);

        private final int channels;

        RawFormat(int channels) {
            this.channels = channels;
        }

        public int channels() {
            return channels;
        }
    }

    public static final String PNG_TYPE = "image/png";
    public static final String JPEG_TYPE = "image/jpeg";
    public static final String RAW_TYPE = "application/x-raw";

    public static ContentType png() {
        return new ContentType(Kind.PNG, null, 0, 0);
    }

    public static ContentType jpeg() {
        return new ContentType(Kind.JPEG, null, 0, 0);
    }

    public static ContentType raw(RawFormat format, int width, int height) {
        return new ContentType(Kind.RAW, format, width, height);
    }

    /** The header value for this content type. */
    public String headerValue() {
        return switch (kind) {
            case PNG -> PNG_TYPE;
            case JPEG -> JPEG_TYPE;
            case RAW -> RAW_TYPE + "; format=" + rawFormat.name().toLowerCase(Locale.ROOT) + "; width=" + width
                    + "; height=" + height;
        };
    }

    /**
     * The content type of a frame from its header (may be null) and, when there is none, its magic bytes.
     *
     * @throws FrameRejectedException {@code unknown-content-type} or {@code bad-header}
     */
    public static ContentType of(String header, byte[] value) throws FrameRejectedException {
        if (header == null || header.isBlank()) {
            if (isPng(value)) {
                return png();
            }
            if (isJpeg(value)) {
                return jpeg();
            }
            throw new FrameRejectedException(DeadLetterReason.UNKNOWN_CONTENT_TYPE,
                    "no content-type header and the bytes are neither PNG nor JPEG");
        }
        String[] parts = header.split(";");
        String type = parts[0].trim().toLowerCase(Locale.ROOT);
        Map<String, String> params = new LinkedHashMap<>();
        for (int i = 1; i < parts.length; i++) {
            String p = parts[i].trim();
            if (p.isEmpty()) {
                continue;
            }
            int eq = p.indexOf('=');
            if (eq <= 0) {
                throw new FrameRejectedException(DeadLetterReason.BAD_HEADER, "malformed content-type parameter '" + p + "'");
            }
            params.put(p.substring(0, eq).trim().toLowerCase(Locale.ROOT), p.substring(eq + 1).trim().replace("\"", ""));
        }
        switch (type) {
            case PNG_TYPE:
                return png();
            case JPEG_TYPE:
            case "image/jpg":
                return jpeg();
            case RAW_TYPE:
                String f = params.get("format");
                RawFormat fmt;
                if ("rgb8".equalsIgnoreCase(f)) {
                    fmt = RawFormat.RGB8;
                } else if ("gray8".equalsIgnoreCase(f) || "grey8".equalsIgnoreCase(f)) {
                    fmt = RawFormat.GRAY8;
                } else {
                    throw new FrameRejectedException(DeadLetterReason.BAD_HEADER,
                            "raw content type needs format=rgb8 or format=gray8, got " + (f == null ? "none" : "'" + f + "'"));
                }
                return raw(fmt, positive(params, "width"), positive(params, "height"));
            default:
                throw new FrameRejectedException(DeadLetterReason.UNKNOWN_CONTENT_TYPE,
                        "unsupported content type '" + type + "' (supported: image/png, image/jpeg, application/x-raw)");
        }
    }

    private static int positive(Map<String, String> params, String name) throws FrameRejectedException {
        String v = params.get(name);
        try {
            int n = Integer.parseInt(v);
            if (n > 0) {
                return n;
            }
        } catch (NumberFormatException e) {
            // fall through
        }
        throw new FrameRejectedException(DeadLetterReason.BAD_HEADER,
                "raw content type needs a positive " + name + "=N parameter, got " + (v == null ? "none" : "'" + v + "'"));
    }

    static boolean isPng(byte[] v) {
        return v != null && v.length >= 8 && (v[0] & 0xFF) == 0x89 && v[1] == 'P' && v[2] == 'N' && v[3] == 'G';
    }

    static boolean isJpeg(byte[] v) {
        return v != null && v.length >= 3 && (v[0] & 0xFF) == 0xFF && (v[1] & 0xFF) == 0xD8 && (v[2] & 0xFF) == 0xFF;
    }
}
