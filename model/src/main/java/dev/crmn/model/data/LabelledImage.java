package dev.crmn.model.data;

/** An image with its class index. */
public record LabelledImage(PixelImage image, int label) {
}
