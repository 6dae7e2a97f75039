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
}
