// grid: a PNG sample grid of a dataset or an image batch. Each item is one image, or the image with its
// counterpart beside it when a comparison source is connected: digits beside their Canny edges
// (dataset + compare), originals beside VAE reconstructions (dataset + compareImages), samples of two
// samplers (images + compareImages). Labels, when asked for and known, are written under each item;
// `order: by-label` lays class-conditional samples out one row per class.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import type { ArtifactType } from "../src/artifact.ts"
import { defineNode, NodeError, optional } from "../src/node.ts"
import { DatasetType, FileType, ImageBatchType, imageBatchToUint8 } from "../src/artifacts/index.ts"
import type { Dataset, ImageBatch } from "../src/artifacts/types.ts"
import { composeGrid, defaultGridOptions, labelRows } from "../src/ml/image/grid.ts"
import { encodePng } from "../src/ml/image/png.ts"
import type { Raster } from "../src/ml/image/raster.ts"

// src/node.ts `optional()` is typed `Port<A>` (optional: boolean), so InputValues would treat these ports
// as required; narrowing `optional` to the literal `true` keeps them optional in `run`'s input type.
const maybe = <A>(type: ArtifactType<A>) => ({ ...optional(type), optional: true as const })

const Params = Type.Object({
  rows: Type.Integer({ minimum: 1, maximum: 64, default: 4 }),
  cols: Type.Integer({ minimum: 1, maximum: 64, default: 8, description: "Items per row (a compared pair is one item)." }),
  scale: Type.Integer({ minimum: 1, maximum: 16, default: 2, description: "Nearest-neighbour upscaling (also the text size)." }),
  padding: Type.Integer({ minimum: 0, maximum: 32, default: 2, description: "Background pixels between items." }),
  labels: Type.Boolean({ default: false, description: "Write each item's label (class) under it." }),
  title: Type.String({ default: "", description: "Title line on top (digits, A-Z and - . : / = only)." }),
  order: Type.Union([Type.Literal("as-given"), Type.Literal("by-label")], {
    default: "as-given",
    description: "as-given: the first rows x cols items; by-label: one row per label (ascending, at most rows), its first cols items (needs labels).",
  }),
})

/** Uint8 pixels, shape and labels of either image artifact kind. */
interface Source {
  readonly port: string
  readonly count: number
  readonly height: number
  readonly width: number
  readonly channels: number
  readonly pixels: Uint8Array
  readonly labels: Uint8Array | null
}
const fromDataset = (port: string, d: Dataset): Source => ({ port, ...d, pixels: d.images })
const fromBatch = (port: string, b: ImageBatch): Source => ({ port, ...b, pixels: imageBatchToUint8(b) })

const raster = (s: Source, i: number): Raster => {
  const size = s.height * s.width * s.channels
  return { height: s.height, width: s.width, channels: s.channels as 1 | 3, pixels: s.pixels.subarray(i * size, (i + 1) * size) }
}

const exactlyOne = (what: string, sources: readonly (Source | undefined)[]): Effect.Effect<Source | undefined, NodeError> => {
  const given = sources.filter((s): s is Source => s !== undefined)
  return given.length > 1
    ? Effect.fail(new NodeError(`connect at most one ${what} input, got ${given.map((s) => s.port).join(" and ")}`))
    : Effect.succeed(given[0])
}

export default defineNode({
  kind: "grid",
  description: "PNG grid of images (optionally each beside its counterpart) with optional labels and title.",
  params: Params,
  inputs: {
    dataset: maybe(DatasetType),
    images: maybe(ImageBatchType),
    compare: maybe(DatasetType),
    compareImages: maybe(ImageBatchType),
  },
  outputs: { png: FileType },
  heavy: false,
  run: (inputs, p) =>
    Effect.gen(function* () {
      const main = yield* exactlyOne("of dataset / images", [
        inputs.dataset && fromDataset("dataset", inputs.dataset),
        inputs.images && fromBatch("images", inputs.images),
      ])
      if (main === undefined) return yield* Effect.fail(new NodeError("connect a dataset or an images input"))
      const other = yield* exactlyOne("of compare / compareImages", [
        inputs.compare && fromDataset("compare", inputs.compare),
        inputs.compareImages && fromBatch("compareImages", inputs.compareImages),
      ])
      if (p.order === "by-label" && main.labels === null) return yield* Effect.fail(new NodeError(`order by-label: the ${main.port} carry no labels`))
      const cells = p.order === "by-label" && main.labels !== null
        ? labelRows(main.labels, p.cols, p.rows)
        : Array.from({ length: Math.min(main.count, p.rows * p.cols) }, (_, i) => i)
      const shown = Math.max(-1, ...cells.map((i) => i ?? -1)) + 1 // items 0..shown-1 must exist in every source
      for (const s of other === undefined ? [main] : [main, other]) {
        if (s.channels !== 1 && s.channels !== 3) return yield* Effect.fail(new NodeError(`${s.port}: ${s.channels} channels; grids draw 1 or 3`))
        if (s.height !== main.height || s.width !== main.width)
          return yield* Effect.fail(new NodeError(`${s.port} images are ${s.height}x${s.width}, ${main.port} images ${main.height}x${main.width}`))
        if (s.count < shown) return yield* Effect.fail(new NodeError(`${s.port} has ${s.count} images, fewer than the ${shown} shown`))
      }
      const items = cells.map((i) => i === null ? { images: [] } : {
        images: other === undefined ? [raster(main, i)] : [raster(main, i), raster(other, i)],
        ...(main.labels === null ? {} : { label: String(main.labels[i]) }),
      })
      const image = composeGrid(items, { ...defaultGridOptions, ...p, rows: p.order === "by-label" ? Math.max(1, items.length / p.cols) : p.rows })
      return { png: { name: "grid.png", mediaType: "image/png", bytes: encodePng(image) } }
    }),
})
