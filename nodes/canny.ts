// canny: Canny edges of every image of a single-channel dataset, with OpenCV 4.x cv2.Canny semantics
// (src/ml/data/canny.ts; pixel-exact on the shipped OpenCV fixtures). Labels pass through unchanged.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { DatasetType } from "../src/artifacts/index.ts"
import { canny, gaussianBlur } from "../src/ml/data/canny.ts"

const Params = Type.Object({
  low: Type.Number({ minimum: 0, default: 100, description: "Hysteresis low threshold (cv2.Canny threshold1)." }),
  high: Type.Number({ minimum: 0, default: 200, description: "Hysteresis high threshold (cv2.Canny threshold2)." }),
  l2gradient: Type.Boolean({ default: false, description: "Use sqrt(dx^2 + dy^2) instead of |dx| + |dy|." }),
  blur: Type.Union([Type.Literal(0), Type.Literal(3), Type.Literal(5), Type.Literal(7)], {
    default: 0,
    description: "Gaussian pre-blur kernel size as cv2.GaussianBlur(img, (k, k), 0); 0 = off (as in cv2.Canny).",
  }),
})

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
      const img = d.images.subarray(i * size, (i + 1) * size)
      const src = p.blur === 0 ? img : gaussianBlur(img, d.height, d.width, p.blur)
      edges.set(canny(src, d.height, d.width, { low: p.low, high: p.high, l2: p.l2gradient }), i * size)
    }
    return Effect.succeed({ dataset: { ...d, images: edges } })
  },
})
