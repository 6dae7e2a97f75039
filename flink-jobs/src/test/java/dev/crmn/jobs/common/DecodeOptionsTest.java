package dev.crmn.jobs.common;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.crmn.connectors.format.DeadLetterReason;
import dev.crmn.connectors.format.Frame;
import dev.crmn.connectors.format.FrameDecoder;
import dev.crmn.connectors.format.FrameRejectedException;
import dev.crmn.connectors.format.Headers;
import dev.crmn.connectors.image.DecoderSettings;
import dev.crmn.jobs.inference.InferenceOptions;
import org.apache.flink.configuration.Configuration;
import org.junit.jupiter.api.Test;

class DecodeOptionsTest {

    @Test
    void theBudgetsAreJobOptionsWithTheDecodersDefaults() throws Exception {
        assertThat(DecodeOptions.settings(new Configuration())).isEqualTo(DecoderSettings.defaults());
        Configuration c = JobArgs.parse(new String[] {"--max-frame-bytes", "1000", "--max-frame-pixels", "900"},
                InferenceOptions.ALL).config();
        DecoderSettings s = DecodeOptions.settings(c);
        assertThat(s.maxBytes()).isEqualTo(1000);
        assertThat(s.maxPixels()).isEqualTo(900);
        FrameDecoder d = new FrameDecoder(32, 32, 3, dev.crmn.model.data.CifarBinaryReader.CIFAR10_LABELS, false, s);
        Frame big = Frame.of("frames", 0, 1, null, new byte[32 * 32 * 3], Headers.CONTENT_TYPE,
                "application/x-raw; format=rgb8; width=32; height=32");
        FrameRejectedException e = org.assertj.core.api.Assertions.catchThrowableOfType(FrameRejectedException.class,
                () -> d.decode(big));
        assertThat(e.reason()).isEqualTo(DeadLetterReason.TOO_LARGE);
        c.set(DecodeOptions.MAX_FRAME_BYTES, 0L);
        assertThatThrownBy(() -> DecodeOptions.settings(c)).hasMessageContaining("--max-frame-bytes");
        assertThat(InferenceOptions.ALL).contains(DecodeOptions.MAX_FRAME_BYTES, DecodeOptions.MAX_FRAME_PIXELS);
        assertThat(dev.crmn.jobs.finetune.FineTuneOptions.ALL).contains(DecodeOptions.MAX_FRAME_BYTES);
    }
}
