package dev.crmn.connectors.format;

import dev.crmn.model.data.PixelImage;

/**
 * A frame decoded and fitted to the model's input, ready to classify.
 *
 * @param frameId    the {@code frame-id} header or the source coordinates
 * @param key        the record key as text (null when absent)
 * @param topic      source topic
 * @param partition  source partition
 * @param offset     source offset
 * @param timestamp  the Kafka record timestamp (ms)
 * @param eventTime  the {@code event-time} header (ms), or -1 when absent
 * @param label      the class index from the {@code label} header, or -1 when absent
 * @param image      pixels of the model's input size and channels
 * @param original   the frame as consumed, kept so that a frame that cannot be classified after all can still be
 *                   dead-lettered without loss
 */
public record DecodedFrame(String frameId, String key, String topic, int partition, long offset, long timestamp,
                           long eventTime, int label, PixelImage image, Frame original) {

    public boolean hasLabel() {
        return label >= 0;
    }
}
