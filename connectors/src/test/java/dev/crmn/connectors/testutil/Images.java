package dev.crmn.connectors.testutil;

import dev.crmn.model.data.PixelImage;
import java.io.ByteArrayOutputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.util.zip.CRC32;

/** Test images: synthetic pixels, PNG/JPEG bytes, and a crafted PNG header. */
public final class Images {

    private Images() {
    }

    public static PixelImage gradient(int h, int w) {
        byte[] px = new byte[h * w * 3];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int o = (y * w + x) * 3;
                px[o] = (byte) (x * 255 / Math.max(1, w - 1));
                px[o + 1] = (byte) (y * 255 / Math.max(1, h - 1));
                px[o + 2] = (byte) ((x + y) * 4);
            }
        }
        return new PixelImage(h, w, 3, px);
    }

    public static byte[] png(PixelImage img) throws IOException {
        return encode(img, "png");
    }

    public static byte[] jpeg(PixelImage img) throws IOException {
        return encode(img, "jpeg");
    }

    private static byte[] encode(PixelImage img, String format) throws IOException {
        return dev.crmn.model.data.ImageBytes.encode(img.toBufferedImage(), format);
    }

    /**
     * A tiny, well-formed PNG whose IHDR claims {@code w x h} RGB pixels, with a small IDAT: a decoder that
     * trusted the header would allocate w*h*3 bytes.
     */
    public static byte[] pngHeaderClaiming(int w, int h) throws IOException {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        DataOutputStream out = new DataOutputStream(bytes);
        out.write(new byte[]{(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1A, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream d = new DataOutputStream(ihdr);
        d.writeInt(w);
        d.writeInt(h);
        d.writeByte(8);  // bit depth
        d.writeByte(2);  // colour type RGB
        d.writeByte(0);
        d.writeByte(0);
        d.writeByte(0);
        chunk(out, "IHDR", ihdr.toByteArray());
        java.util.zip.Deflater def = new java.util.zip.Deflater();
        def.setInput(new byte[4096]);
        def.finish();
        byte[] buf = new byte[1024];
        int n = def.deflate(buf);
        chunk(out, "IDAT", java.util.Arrays.copyOf(buf, n));
        chunk(out, "IEND", new byte[0]);
        return bytes.toByteArray();
    }

    private static void chunk(DataOutputStream out, String type, byte[] data) throws IOException {
        out.writeInt(data.length);
        byte[] t = type.getBytes(java.nio.charset.StandardCharsets.US_ASCII);
        out.write(t);
        out.write(data);
        CRC32 crc = new CRC32();
        crc.update(t);
        crc.update(data);
        out.writeInt((int) crc.getValue());
    }
}
