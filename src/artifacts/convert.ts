// Conversions between the two image artifact kinds: Dataset (uint8 0..255) and ImageBatch (float32 0..1).
import type { Dataset, ImageBatch } from "./types.ts"

/** uint8 pixels v -> float32 v / 255, labels kept. */
export const datasetToImageBatch = (d: Dataset, meta: ImageBatch["meta"] = {}): ImageBatch => {
  const pixels = new Float32Array(d.images.length)
  for (let i = 0; i < pixels.length; i++) pixels[i] = d.images[i]! / 255
  return { count: d.count, height: d.height, width: d.width, channels: d.channels, pixels, labels: d.labels, meta }
}

/** float32 pixels in [0, 1] -> uint8 round(255 v), clamped; NaN becomes 0 (it has no brightness). */
export const imageBatchToUint8 = (b: ImageBatch): Uint8Array => {
  const out = new Uint8Array(b.pixels.length)
  for (let i = 0; i < out.length; i++) {
    const v = b.pixels[i]!
    out[i] = v > 0 ? Math.round(Math.min(v, 1) * 255) : 0
  }
  return out
}
