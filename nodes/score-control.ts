// score-control: how images generated from edge maps follow them: edge F1 between Canny(image) and the
// conditioning edges (1-pixel tolerance by default), diversity of several samples of one map, and L1
// against the maps' original digits. Sample i belongs to map i mod the `control_count` its batch records
// (the `sample` node's cycling rule), or i mod the control count for batches made without a ControlNet
// (unconditioned samples: the edge-F1 floor; the regression's outputs: one per map). The FLD and class
// accuracy of the same batch come from `score`. The math is in src/ml/control-scoring.ts.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, optional } from "../src/node.ts"
import { DatasetType, ImageBatchType, imageBatchToUint8, MetricsType } from "../src/artifacts/index.ts"
import { scoreControl } from "../src/ml/control-scoring.ts"
import { cannyEdges, cannyParams } from "./_canny.ts"
import { ml } from "./_ml.ts"

const Params = Type.Object({
  ...cannyParams,
  tolerance: Type.Integer({ minimum: 0, maximum: 5, default: 1, description: "Edge match tolerance in pixels (Chebyshev distance): 1 = the 3x3 neighbourhood." }),
})

export default defineNode({
  kind: "score-control",
  description: "Edge F1 (Canny of the images vs the conditioning edges, with a pixel tolerance), diversity per edge map and L1 to the originals.",
  params: Params,
  inputs: { images: ImageBatchType, control: DatasetType, original: optional(DatasetType) },
  outputs: { metrics: MetricsType },
  heavy: false,
  run: (inputs, p) =>
    Effect.gen(function* () {
      const { images, control } = inputs
      const recorded = images.meta.control_count
      const maps = typeof recorded === "number" ? recorded : control.count
      const metrics = yield* ml("scoring", () =>
        scoreControl({
          images, imagesU8: imageBatchToUint8(images), control, maps, tolerance: p.tolerance,
          edgesOf: (img) => cannyEdges(img, images.height, images.width, p),
          ...(inputs.original === undefined ? {} : { original: inputs.original }),
        }))
      // the batch's numeric meta (control_scale, steps, ...) rides along, as in `score`
      const meta = Object.fromEntries(Object.entries(images.meta).filter((e): e is [string, number] => typeof e[1] === "number"))
      return { metrics: { scalars: { ...meta, ...metrics.scalars }, tables: {} } }
    }),
})
