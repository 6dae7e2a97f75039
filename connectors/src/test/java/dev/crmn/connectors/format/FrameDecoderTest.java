package dev.crmn.connectors.format;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.catchThrowableOfType;

import dev.crmn.connectors.image.DecoderSettings;
import dev.crmn.connectors.testutil.Images;
import dev.crmn.model.data.PixelImage;
import java.util.Arrays;
import dev.crmn.model.data.CifarBinaryReader;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/** Every dead-letter reason, produced by a crafted bad input; and the good paths. */
class FrameDecoderTest {

    static final List<String> LABELS = CifarBinaryReader.CIFAR10_LABELS;
    final FrameDecoder decoder = new FrameDecoder(32, 32, 3, LABELS, false, DecoderSettings.defaults());
    final FrameDecoder labelled = new FrameDecoder(32, 32, 3, LABELS, true, DecoderSettings.defaults());

    static Frame frame(byte[] value, String... headers) {
        return Frame.of("frames", 0, 7, null, value, headers);
    }

    DeadLetterReason reject(FrameDecoder d, Frame f) {
        FrameRejectedException e = catchThrowableOfType(FrameRejectedException.class, () -> d.decode(f));
        assertThat(e).as("rejection of %s", f).isNotNull();
        assertThat(e.detail()).isNotBlank();
        return e.reason();
    }

    @Test
    void pngJpegAndRawFramesDecodeToTheModelInput() throws Exception {
        PixelImage img = Images.gradient(32, 32);
        DecodedFrame png = decoder.decode(frame(Images.png(img), Headers.CONTENT_TYPE, "image/png", Headers.LABEL, "3",
                Headers.FRAME_ID, "abc", Headers.EVENT_TIME, "1700000000000"));
        assertThat(png.image().pixels()).isEqualTo(img.pixels());
        assertThat(png.label()).isEqualTo(3);
        assertThat(png.frameId()).isEqualTo("abc");
        assertThat(png.eventTime()).isEqualTo(1_700_000_000_000L);
        DecodedFrame sniffed = decoder.decode(frame(Images.png(img)));
        assertThat(sniffed.frameId()).isEqualTo("frames-0-7");
        assertThat(sniffed.label()).isEqualTo(-1);
        assertThat(sniffed.eventTime()).isEqualTo(-1);
        DecodedFrame jpeg = decoder.decode(frame(Images.jpeg(img), Headers.LABEL, "Cat", Headers.EVENT_TIME,
                "2024-01-02T03:04:05Z"));
        assertThat(jpeg.label()).isEqualTo(3);
        assertThat(jpeg.eventTime()).isEqualTo(java.time.Instant.parse("2024-01-02T03:04:05Z").toEpochMilli());
        DecodedFrame raw = decoder.decode(frame(img.pixels(), Headers.CONTENT_TYPE,
                "application/x-raw; format=rgb8; width=32; height=32"));
        assertThat(raw.image().pixels()).isEqualTo(img.pixels());
        byte[] gray = new byte[32 * 32];
        Arrays.fill(gray, (byte) 77);
        DecodedFrame g = decoder.decode(frame(gray, Headers.CONTENT_TYPE, "application/x-raw;format=gray8;width=32;height=32"));
        assertThat(g.image().channels()).isEqualTo(3);
        assertThat(g.image().value(5, 5, 2)).isEqualTo(77);
        DecodedFrame big = decoder.decode(frame(Images.png(Images.gradient(64, 48))));
        assertThat(big.image().height()).isEqualTo(32);
        assertThat(big.image().width()).isEqualTo(32);
    }

    @Test
    void emptyValue() {
        assertThat(reject(decoder, frame(new byte[0], Headers.CONTENT_TYPE, "image/png"))).isEqualTo(DeadLetterReason.EMPTY_VALUE);
        assertThat(reject(decoder, frame(null))).isEqualTo(DeadLetterReason.EMPTY_VALUE);
    }

    @Test
    void unknownContentType() {
        assertThat(reject(decoder, frame(new byte[]{1, 2, 3}, Headers.CONTENT_TYPE, "video/mp4")))
                .isEqualTo(DeadLetterReason.UNKNOWN_CONTENT_TYPE);
        byte[] random = new byte[500];
        new Random(1).nextBytes(random);
        random[0] = 0;
        assertThat(reject(decoder, frame(random))).isEqualTo(DeadLetterReason.UNKNOWN_CONTENT_TYPE);
    }

    @Test
    void randomBytesClaimingToBePng() {
        byte[] random = new byte[500];
        new Random(2).nextBytes(random);
        assertThat(reject(decoder, frame(random, Headers.CONTENT_TYPE, "image/png"))).isEqualTo(DeadLetterReason.UNDECODABLE_IMAGE);
    }

    @Test
    void truncatedPng() throws Exception {
        byte[] png = Images.png(Images.gradient(32, 32));
        byte[] truncated = Arrays.copyOf(png, png.length / 2);
        assertThat(reject(decoder, frame(truncated, Headers.CONTENT_TYPE, "image/png"))).isEqualTo(DeadLetterReason.UNDECODABLE_IMAGE);
        assertThat(reject(decoder, frame(truncated))).isEqualTo(DeadLetterReason.UNDECODABLE_IMAGE);
    }

    @Test
    void decompressionBombHeaderIsRefusedBeforeDecoding() throws Exception {
        byte[] bomb = Images.pngHeaderClaiming(100_000, 100_000);
        assertThat(bomb.length).isLessThan(1024);
        long before = usedHeap();
        assertThat(reject(decoder, frame(bomb, Headers.CONTENT_TYPE, "image/png"))).isEqualTo(DeadLetterReason.TOO_LARGE);
        assertThat(usedHeap() - before).as("no huge allocation").isLessThan(512L << 20);
        FrameDecoder tight = new FrameDecoder(32, 32, 3, LABELS, false, DecoderSettings.defaults().withMaxBytes(100));
        assertThat(reject(tight, frame(Images.png(Images.gradient(32, 32))))).isEqualTo(DeadLetterReason.TOO_LARGE);
        assertThat(reject(decoder, frame(new byte[4], Headers.CONTENT_TYPE,
                "application/x-raw; format=gray8; width=100000; height=100000"))).isEqualTo(DeadLetterReason.TOO_LARGE);
    }

    private static long usedHeap() {
        Runtime r = Runtime.getRuntime();
        return r.totalMemory() - r.freeMemory();
    }

    @Test
    void aLargeFrameIsDecodedButCarriesNoValueForItsDeadLetterASmallOneKeepsIt() throws Exception {
        byte[] big = new byte[320 * 320 * 3]; // 307,200 bytes: above what a decoded frame carries along
        DecodedFrame d = decoder.decode(frame(big, Headers.CONTENT_TYPE, "application/x-raw; format=rgb8; width=320; height=320",
                Headers.FRAME_ID, "cam-1"));
        assertThat(d.image().pixels()).hasSize(32 * 32 * 3);
        assertThat(d.original().value()).isEmpty();
        assertThat(d.original().header(Headers.VALUE_OMITTED)).isEqualTo("307200");
        assertThat(d.original().header(Headers.FRAME_ID)).as("the other headers stay").isEqualTo("cam-1");
        DeadLetter dl = new DeadLetter(d.original(), DeadLetterReason.INFERENCE_FAILED, "test");
        var record = dl.toRecord("dead-letters");
        assertThat(record.value()).isEmpty();
        assertThat(new String(record.headers().lastHeader(Headers.VALUE_OMITTED).value())).isEqualTo("307200");
        assertThat(new String(record.headers().lastHeader(Headers.SOURCE_OFFSET).value())).isNotEmpty();
        byte[] small = Images.png(Images.gradient(32, 32));
        assertThat(decoder.decode(frame(small)).original().value()).isEqualTo(small);
    }

    @Test
    void rawFrameWhoseSizeDisagreesWithItsHeader() {
        assertThat(reject(decoder, frame(new byte[32 * 32 * 3 - 1], Headers.CONTENT_TYPE,
                "application/x-raw; format=rgb8; width=32; height=32"))).isEqualTo(DeadLetterReason.WRONG_DIMENSIONS);
    }

    @Test
    void sizePolicyRefuse() throws Exception {
        FrameDecoder strict = new FrameDecoder(32, 32, 3, LABELS, false,
                DecoderSettings.defaults().withSizePolicy(DecoderSettings.SizePolicy.REFUSE));
        assertThat(reject(strict, frame(Images.png(Images.gradient(40, 30))))).isEqualTo(DeadLetterReason.WRONG_DIMENSIONS);
    }

    @Test
    void malformedHeaders() {
        byte[] px = new byte[32 * 32 * 3];
        assertThat(reject(decoder, frame(px, Headers.CONTENT_TYPE, "application/x-raw; format=rgb8; width=32")))
                .isEqualTo(DeadLetterReason.BAD_HEADER);
        assertThat(reject(decoder, frame(px, Headers.CONTENT_TYPE, "application/x-raw; format=yuv; width=32; height=32")))
                .isEqualTo(DeadLetterReason.BAD_HEADER);
        assertThat(reject(decoder, frame(px, Headers.CONTENT_TYPE, "application/x-raw; format=rgb8; width=32; height=32",
                Headers.EVENT_TIME, "yesterday"))).isEqualTo(DeadLetterReason.BAD_HEADER);
    }

    @Test
    void outOfRangeOrUnknownLabelsAndMissingLabelsOnTheLabelledTopic() throws Exception {
        byte[] png = Images.png(Images.gradient(32, 32));
        assertThat(reject(decoder, frame(png, Headers.LABEL, "10"))).isEqualTo(DeadLetterReason.BAD_LABEL);
        assertThat(reject(decoder, frame(png, Headers.LABEL, "-1"))).isEqualTo(DeadLetterReason.BAD_LABEL);
        assertThat(reject(decoder, frame(png, Headers.LABEL, "99999999999999999999"))).isEqualTo(DeadLetterReason.BAD_LABEL);
        assertThat(reject(decoder, frame(png, Headers.LABEL, "unicorn"))).isEqualTo(DeadLetterReason.BAD_LABEL);
        assertThat(reject(labelled, frame(png))).isEqualTo(DeadLetterReason.MISSING_LABEL);
        assertThat(labelled.decode(frame(png, Headers.LABEL, "truck")).label()).isEqualTo(9);
    }

    @Test
    void decodingWritesNoTempFiles(@org.junit.jupiter.api.io.TempDir java.nio.file.Path cacheDir) throws Exception {
        boolean cache = javax.imageio.ImageIO.getUseCache();
        java.io.File oldDir = javax.imageio.ImageIO.getCacheDirectory();
        javax.imageio.ImageIO.setUseCache(true); // ImageIO's default: a temp file per stream
        javax.imageio.ImageIO.setCacheDirectory(cacheDir.toFile());
        try (java.nio.file.WatchService watch = cacheDir.getFileSystem().newWatchService()) {
            cacheDir.register(watch, java.nio.file.StandardWatchEventKinds.ENTRY_CREATE);
            byte[] png = Images.png(Images.gradient(32, 32));
            byte[] jpeg = Images.jpeg(Images.gradient(32, 32));
            for (int i = 0; i < 10; i++) {
                decoder.decode(frame(png));
                decoder.decode(frame(jpeg));
            }
            java.nio.file.Files.createFile(cacheDir.resolve("sentinel")); // events arrive in order: wait for this one
            List<String> created = new java.util.ArrayList<>();
            while (!created.contains("sentinel")) {
                java.nio.file.WatchKey key = watch.poll(30, java.util.concurrent.TimeUnit.SECONDS);
                assertThat(key).as("the sentinel's event").isNotNull();
                key.pollEvents().forEach(e -> created.add(e.context().toString()));
                key.reset();
            }
            assertThat(created).as("files created while decoding").containsExactly("sentinel");
        } finally {
            javax.imageio.ImageIO.setUseCache(cache);
            javax.imageio.ImageIO.setCacheDirectory(oldDir);
        }
    }

    @Test
    void decodingWorksWithoutAWritableTempDirectory() throws Exception {
        String tmp = System.getProperty("java.io.tmpdir");
        boolean cache = javax.imageio.ImageIO.getUseCache();
        java.io.File oldDir = javax.imageio.ImageIO.getCacheDirectory();
        javax.imageio.ImageIO.setUseCache(true);
        javax.imageio.ImageIO.setCacheDirectory(null); // = java.io.tmpdir
        System.setProperty("java.io.tmpdir", "/nonexistent-crmn-tmp");
        try {
            assertThat(decoder.decode(frame(Images.png(Images.gradient(32, 32)))).image().height()).isEqualTo(32);
        } finally {
            System.setProperty("java.io.tmpdir", tmp);
            javax.imageio.ImageIO.setUseCache(cache);
            javax.imageio.ImageIO.setCacheDirectory(oldDir);
        }
    }

    @Test
    void aDecoderBugIsAnInternalErrorAndErrorsPropagate() throws Exception {
        // A PNG reader that fails the way a JDK decoder bug would, for bytes starting with "BOOM".
        ExplodingReader.Spi spi = new ExplodingReader.Spi();
        javax.imageio.spi.IIORegistry.getDefaultInstance().registerServiceProvider(spi);
        try {
            FrameRejectedException e = catchThrowableOfType(FrameRejectedException.class,
                    () -> decoder.decode(frame("BOOM:runtime".getBytes(), Headers.CONTENT_TYPE, "image/png")));
            assertThat(e.reason()).isEqualTo(DeadLetterReason.INTERNAL_ERROR);
            assertThat(e.detail()).contains("IllegalStateException");
            Throwable oom = org.assertj.core.api.Assertions.catchThrowable(
                    () -> decoder.decode(frame("BOOM:error".getBytes(), Headers.CONTENT_TYPE, "image/png")));
            assertThat(oom).as("an Error is not a bad frame").isInstanceOf(OutOfMemoryError.class);
        } finally {
            javax.imageio.spi.IIORegistry.getDefaultInstance().deregisterServiceProvider(spi);
        }
    }

    /** An ImageIO reader that claims "BOOM..." bytes as PNG and then throws. */
    static final class ExplodingReader extends javax.imageio.ImageReader {
        ExplodingReader(javax.imageio.spi.ImageReaderSpi spi) {
            super(spi);
        }

        private String mode() throws java.io.IOException {
            javax.imageio.stream.ImageInputStream in = (javax.imageio.stream.ImageInputStream) getInput();
            in.seek(5);
            byte[] b = new byte[in.length() > 0 ? (int) in.length() - 5 : 7];
            int n = in.read(b);
            return new String(b, 0, Math.max(n, 0));
        }

        @Override
        public int getNumImages(boolean allowSearch) {
            return 1;
        }

        @Override
        public int getWidth(int imageIndex) {
            return 32;
        }

        @Override
        public int getHeight(int imageIndex) {
            return 32;
        }

        @Override
        public java.util.Iterator<javax.imageio.ImageTypeSpecifier> getImageTypes(int imageIndex) {
            return java.util.Collections.emptyIterator();
        }

        @Override
        public javax.imageio.metadata.IIOMetadata getStreamMetadata() {
            return null;
        }

        @Override
        public javax.imageio.metadata.IIOMetadata getImageMetadata(int imageIndex) {
            return null;
        }

        @Override
        public java.awt.image.BufferedImage read(int imageIndex, javax.imageio.ImageReadParam param) throws java.io.IOException {
            if (mode().startsWith("error")) {
                throw new OutOfMemoryError("simulated");
            }
            throw new IllegalStateException("simulated decoder bug");
        }

        static final class Spi extends javax.imageio.spi.ImageReaderSpi {
            Spi() {
                super("crmn-test", "1", new String[]{"png"}, new String[]{"png"}, new String[]{"image/png"},
                        ExplodingReader.class.getName(), new Class<?>[]{javax.imageio.stream.ImageInputStream.class},
                        null, false, null, null, null, null, false, null, null, null, null);
            }

            @Override
            public boolean canDecodeInput(Object source) throws java.io.IOException {
                javax.imageio.stream.ImageInputStream in = (javax.imageio.stream.ImageInputStream) source;
                byte[] b = new byte[4];
                in.mark();
                try {
                    return in.read(b) == 4 && new String(b).equals("BOOM");
                } finally {
                    in.reset();
                }
            }

            @Override
            public javax.imageio.ImageReader createReaderInstance(Object extension) {
                return new ExplodingReader(this);
            }

            @Override
            public String getDescription(java.util.Locale locale) {
                return "test reader";
            }
        }
    }
}
