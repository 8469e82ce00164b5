// Turns decoded artifacts into files other tools read: .npy (float32, shape kept) and PNG grids.
// Artifact values are recognised by shape (see src/artifacts/types.ts), so the engine needs no codec.
import { PNG } from "pngjs"
import type { Dataset, ImageBatch, Latents, Tensor } from "../artifacts/types.ts"
import { npyBytes } from "./npy.ts"

const has = (v: unknown, ...keys: string[]): boolean => typeof v === "object" && v !== null && keys.every((k) => k in v)
const isImages = (v: unknown): v is ImageBatch => has(v, "pixels", "count", "height", "width", "channels")
const isDataset = (v: unknown): v is Dataset => has(v, "images", "labels", "count", "height", "width", "channels")
const isTensor = (v: unknown): v is Tensor => has(v, "shape", "data")
const isLatents = (v: unknown): v is Latents => has(v, "values", "count", "dim")

export const toNpy = (v: unknown): Uint8Array | string => {
  if (isImages(v)) return npyBytes(v.pixels, [v.count, v.height, v.width, v.channels])
  if (isDataset(v)) return npyBytes(Float32Array.from(v.images, (x) => x / 255), [v.count, v.height, v.width, v.channels])
  if (isTensor(v)) return npyBytes(v.data, v.shape)
  if (isLatents(v)) return npyBytes(v.values, [v.count, v.dim])
  return "npy export supports image batches, datasets, tensors and latents"
}

/** A near-square grid of up to `max` images, 1 px gutter, grayscale or RGB. */
export const toPngGrid = (v: unknown, max = 100): Uint8Array | string => {
  const img = isImages(v)
    ? { n: v.count, h: v.height, w: v.width, c: v.channels, at: (i: number) => Math.round(Math.min(1, Math.max(0, v.pixels[i] ?? 0)) * 255) }
    : isDataset(v)
      ? { n: v.count, h: v.height, w: v.width, c: v.channels, at: (i: number) => v.images[i] ?? 0 }
      : undefined
  if (img === undefined) return "png export supports image batches and datasets"
  const n = Math.min(img.n, max)
  const cols = Math.max(1, Math.ceil(Math.sqrt(n)))
  const rows = Math.max(1, Math.ceil(n / cols))
  const png = new PNG({ width: cols * (img.w + 1) + 1, height: rows * (img.h + 1) + 1 })
  png.data.fill(255)
  for (let k = 0; k < n; k++) {
    const ox = 1 + (k % cols) * (img.w + 1)
    const oy = 1 + Math.floor(k / cols) * (img.h + 1)
    for (let y = 0; y < img.h; y++)
      for (let x = 0; x < img.w; x++) {
        const base = ((k * img.h + y) * img.w + x) * img.c
        const o = ((oy + y) * png.width + ox + x) * 4
        for (let ch = 0; ch < 3; ch++) png.data[o + ch] = img.at(base + (img.c >= 3 ? ch : 0))
        png.data[o + 3] = 255
      }
  }
  return new Uint8Array(PNG.sync.write(png))
}
