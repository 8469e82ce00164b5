// canny: Canny edges of every image of a single-channel dataset, with OpenCV 4.x cv2.Canny semantics
// (src/ml/data/canny.ts; pixel-exact on the shipped OpenCV fixtures). Labels pass through unchanged.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { DatasetType } from "../src/artifacts/index.ts"
import { cannyEdges, cannyParams } from "./_canny.ts"

const Params = Type.Object(cannyParams)

export default defineNode({
  kind: "canny",
  description: "Canny edge maps (0/255, OpenCV semantics) of a single-channel dataset, labels kept.",
  params: Params,
  inputs: { dataset: DatasetType },
  outputs: { dataset: DatasetType },
  heavy: false,
  run: ({ dataset: d }, p) => {
    if (d.channels !== 1)
      return Effect.fail(new NodeError(`canny needs single-channel images, got ${d.channels} channels`))
    const size = d.height * d.width
    const edges = new Uint8Array(d.count * size)
    for (let i = 0; i < d.count; i++) {
      edges.set(cannyEdges(d.images.subarray(i * size, (i + 1) * size), d.height, d.width, p), i * size)
    }
    return Effect.succeed({ dataset: { ...d, images: edges } })
  },
})
