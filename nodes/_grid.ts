// What the grid nodes (grid, control-grid) share: their layout params, optional image ports, and a
// uniform view of both image artifact kinds as uint8 rasters.
import { Type } from "@sinclair/typebox"
import type { ArtifactType } from "../src/artifact.ts"
import { optional } from "../src/node.ts"
import { imageBatchToUint8 } from "../src/artifacts/index.ts"
import type { Dataset, ImageBatch } from "../src/artifacts/types.ts"
import type { Raster } from "../src/ml/image/raster.ts"

// src/node.ts `optional()` is typed `Port<A>` (optional: boolean), so InputValues would treat these ports
// as required; narrowing `optional` to the literal `true` keeps them optional in `run`'s input type.
export const maybe = <A>(type: ArtifactType<A>) => ({ ...optional(type), optional: true as const })

export const gridParams = {
  rows: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  cols: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: "Items per row (a compared pair is one item)." }),
  scale: Type.Integer({ minimum: 1, maximum: 16, default: 2, description: "Nearest-neighbour upscaling (also the text size)." }),
  padding: Type.Integer({ minimum: 0, maximum: 32, default: 2, description: "Background pixels between items." }),
  labels: Type.Boolean({ default: false, description: "Write each item's label (class) under it." }),
  title: Type.String({ default: "", description: "Title line on top (digits, A-Z and - . : / = only)." }),
}

/** Uint8 pixels, shape and labels of either image artifact kind. */
export interface Source {
  readonly port: string
  readonly count: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly pixels: Uint8Array
  readonly labels: Uint8Array | null
}
export const fromDataset = (port: string, d: Dataset): Source => ({ port, ...d, pixels: d.images })
export const fromBatch = (port: string, b: ImageBatch): Source => ({ port, ...b, pixels: imageBatchToUint8(b) })

export const raster = (s: Source, i: number): Raster => {
  const size = s.height * s.width * s.channels
  return { height: s.height, width: s.width, channels: s.channels as 1 | 3, pixels: s.pixels.subarray(i * size, (i + 1) * size) }
}

/** Why `s` cannot be drawn beside `main` for `shown` items (undefined: it can). */
export const sourceProblem = (s: Source, main: Source, shown: number): string | undefined => {
  if (s.channels !== 1 && s.channels !== 3) return `${s.port}: ${s.channels} channels; grids draw 1 or 3`
  if (s.height !== main.height || s.width !== main.width) return `${s.port} images are ${s.height}x${s.width}, ${main.port} images ${main.height}x${main.width}`
  if (s.count < shown) return `${s.port} has ${s.count} images, fewer than the ${shown} shown`
  return undefined
}
