// grid: a PNG sample grid of a dataset or an image batch. Each item is one image, or the image with its
// counterpart beside it when a comparison source is connected: digits beside their Canny edges
// (dataset + compare), originals beside VAE reconstructions (dataset + compareImages), samples of two
// samplers (images + compareImages). Labels, when asked for and known, are written under each item;
// `order: by-label` lays class-conditional samples out one row per class.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { DatasetType, FileType, ImageBatchType } from "../src/artifacts/index.ts"
import { composeGrid, defaultGridOptions, labelRows } from "../src/ml/image/grid.ts"
import { encodePng } from "../src/ml/image/png.ts"
import { fromBatch, fromDataset, gridParams, maybe, type Source, raster, sourceProblem } from "./_grid.ts"

const Params = Type.Object({
  ...gridParams,
  order: Type.Union([Type.Literal("as-given"), Type.Literal("by-label")], {
    default: "as-given",
    description: "as-given: the first rows x cols items; by-label: one row per label (ascending, at most rows), its first cols items (needs labels).",
  }),
})

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
        const problem = sourceProblem(s, main, shown)
        if (problem !== undefined) return yield* Effect.fail(new NodeError(problem))
      }
      const items = cells.map((i) => i === null ? { images: [] } : {
        images: other === undefined ? [raster(main, i)] : [raster(main, i), raster(other, i)],
        ...(main.labels === null ? {} : { label: String(main.labels[i]) }),
      })
      const image = composeGrid(items, { ...defaultGridOptions, ...p, rows: p.order === "by-label" ? Math.max(1, items.length / p.cols) : p.rows })
      return { png: { name: "grid.png", mediaType: "image/png", bytes: encodePng(image) } }
    }),
})
