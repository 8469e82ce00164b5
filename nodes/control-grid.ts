// control-grid: the ControlNet comparison grid: each item is [edge map | ControlNet sample | regression
// output | original digit] for the same index (the samples and the regression are drawn from the maps
// in order; unconnected columns are left out). Labels, when asked for, are the edge maps' (the source
// digits' classes).
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { DatasetType, FileType, ImageBatchType } from "../src/artifacts/index.ts"
import { composeGrid, defaultGridOptions } from "../src/ml/image/grid.ts"
import { encodePng } from "../src/ml/image/png.ts"
import { fromBatch, fromDataset, gridParams, maybe, raster, type Source, sourceProblem } from "./_grid.ts"

export default defineNode({
  kind: "control-grid",
  description: "PNG grid of [edges | ControlNet sample | regression output | original] per item, with optional labels and title.",
  params: Type.Object(gridParams),
  inputs: { edges: DatasetType, samples: maybe(ImageBatchType), regression: maybe(ImageBatchType), original: maybe(DatasetType) },
  outputs: { png: FileType },
  heavy: false,
  run: (inputs, p) =>
    Effect.gen(function* () {
      const main = fromDataset("edges", inputs.edges)
      const columns: Source[] = [
        main,
        ...(inputs.samples === undefined ? [] : [fromBatch("samples", inputs.samples)]),
        ...(inputs.regression === undefined ? [] : [fromBatch("regression", inputs.regression)]),
        ...(inputs.original === undefined ? [] : [fromDataset("original", inputs.original)]),
      ]
      const shown = Math.min(...columns.map((s) => s.count), p.rows * p.cols)
      for (const s of columns) {
        const problem = sourceProblem(s, main, shown)
        if (problem !== undefined) return yield* Effect.fail(new NodeError(problem))
      }
      const items = Array.from({ length: shown }, (_, i) => ({ images: columns.map((s) => raster(s, i)), label: String(inputs.edges.labels[i]) }))
      const image = composeGrid(items, { ...defaultGridOptions, ...p })
      return { png: { name: "grid.png", mediaType: "image/png", bytes: encodePng(image) } }
    }),
})
