// reference-features: the LeNet judge's penultimate features of the FLD reference (the real test set)
// and of the floor pool (real train images in a seeded random order), computed once per judge so that
// every `score` downstream only featurises its own samples. Both tensors carry the judge's fingerprint,
// which `score` checks against its classifier input. The math is in src/ml/scoring.ts.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { DatasetType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import type { Tensor } from "../src/artifacts/types.ts"
import { classifierFromWeights } from "../src/ml/nn/classifier.ts"
import { type FeatureSet, judgeFingerprint, referenceFeatures } from "../src/ml/scoring.ts"
import { ml, reject, withModel } from "./_ml.ts"

const Params = Type.Object({
  realCount: Type.Integer({ minimum: 2, default: 10000, description: "Real test images in the FLD reference (a seeded subset when fewer than given)." }),
  floorPool: Type.Integer({
    minimum: 2, default: 10000,
    description: "Train images in the floor pool, in a seeded random order: a score with N samples takes the first N as its floor, so N may be at most this.",
  }),
  seed: Type.Integer({ default: 0, description: "Seeds the floor pool's order (and the realCount subset)." }),
  batchSize: Type.Integer({ minimum: 1, default: 500, description: "Judge batch size." }),
})

const toTensor = (f: FeatureSet, dim: number, meta: Record<string, string>): Tensor => ({ shape: [f.count, dim], data: f.features, meta })

export default defineNode({
  kind: "reference-features",
  description: "The judge's features of the FLD reference (real test images) and of the floor pool (real train images, seeded order), computed once per judge.",
  params: Params,
  inputs: { classifier: WeightsType, real: DatasetType, train: DatasetType },
  outputs: { real: TensorType, floor: TensorType },
  heavy: true,
  run: (inputs, p) =>
    withModel("classifier input", () => classifierFromWeights(inputs.classifier), (model) =>
      Effect.gen(function* () {
        const { imageSize: s, inChannels: ch, hidden } = model.config
        for (const [name, d] of [["real", inputs.real], ["train", inputs.train]] as const)
          if (d.height !== s || d.width !== s || d.channels !== ch)
            return yield* reject(`${name} images are ${d.height}x${d.width}x${d.channels} but the judge takes ${s}x${s}x${ch}`)
        const f = yield* ml("reference features", () => referenceFeatures(model, inputs.real, inputs.train, p))
        const judge = judgeFingerprint(inputs.classifier)
        return { real: toTensor(f.real, hidden, { judge, set: "real" }), floor: toTensor(f.floor, hidden, { judge, set: "floor" }) }
      })),
})
