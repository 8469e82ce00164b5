// regress-edges: applies train-edge-regression's U-Net to edge maps (e.g. held-out test edges): one
// deterministic digit per map, as an image batch in [0, 1] that carries the maps' labels (so `score`
// measures class accuracy against the source digit), plus a PNG grid.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { DatasetType, FileType, ImageBatchType, WeightsType } from "../src/artifacts/index.ts"
import { toSignedUnit } from "../src/ml/data/pixels.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import { edgeRegressionFromWeights, regressAll } from "../src/ml/edge-regression.ts"
import { ml, withModel } from "./_ml.ts"
import { sampleGrid } from "./_sampling.ts"

const Params = Type.Object({
  count: Type.Optional(Type.Integer({ minimum: 1, description: "Regress the first `count` maps only (default: all)." })),
  batchSize: Type.Integer({ minimum: 1, default: 256 }),
})

export default defineNode({
  kind: "regress-edges",
  description: "Digits regressed from edge maps by a train-edge-regression U-Net (labels of the maps kept), plus a PNG grid.",
  params: Params,
  inputs: { model: WeightsType, edges: DatasetType },
  outputs: { images: ImageBatchType, grid: FileType },
  heavy: true,
  run: ({ model, edges }, p) =>
    Effect.gen(function* () {
      const count = Math.min(p.count ?? edges.count, edges.count)
      const size = edges.height * edges.width * edges.channels
      const itemShape = [edges.height, edges.width, edges.channels]
      const pixels = yield* withModel("loading the regression", () => edgeRegressionFromWeights(model), (u) =>
        ml("regressing", () => regressAll(u, (idx) => toSignedUnit(gatherRows(edges.images, size, idx)), count, itemShape, p.batchSize)))
      const images = {
        count, height: edges.height, width: edges.width, channels: edges.channels, pixels,
        labels: edges.labels.slice(0, count), meta: { model: "edge-regression", label: "REGRESSION" },
      }
      return { images, grid: sampleGrid(images, "EDGE-REGRESSION") }
    }),
})
