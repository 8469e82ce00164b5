// score: judges an image batch with the trained LeNet (train-classifier): FLD against the judge's
// features of real test images (from reference-features, computed once per judge) with a bootstrap
// standard error, next to the real-vs-real floor at the same sample count (the first N images of the
// reference's floor pool) and its standard error, the class histogram and its largest deviation from
// an even split, accuracy against requested labels, pairwise MSE/PSNR/SSIM against reference images,
// and the batch's numeric meta (steps, evals_per_image, ...) passed through, as are the scalars of an
// optional `timing` metrics input (the sampling node's, with the wall-clock seconds_per_image that
// sample artifacts leave out). The math is in src/ml/scoring.ts.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError, optional } from "../src/node.ts"
import { DatasetType, ImageBatchType, MetricsType, TensorType, WeightsType, datasetToImageBatch } from "../src/artifacts/index.ts"
import type { Tensor } from "../src/artifacts/types.ts"
import { classifierFromWeights } from "../src/ml/nn/classifier.ts"
import { type FeatureSet, judgeFingerprint, scoreImages } from "../src/ml/scoring.ts"
import { ml, reject, withModel } from "./_ml.ts"

const Params = Type.Object({
  bootstrap: Type.Integer({
    minimum: 0, default: 100,
    description: "Bootstrap resamples behind fld_se and fld_floor_se (~10 ms each at 1000 samples); 0 or 1: no standard errors.",
  }),
  seed: Type.Integer({ default: 0, description: "Seeds the bootstrap resamples." }),
  batchSize: Type.Integer({ minimum: 1, default: 500, description: "Judge batch size." }),
})

/** A reference-features tensor as features, after checking it came from this judge and is the right set. */
const featureSet = (port: string, x: Tensor, judge: string): FeatureSet | NodeError => {
  if (x.meta.set !== port) return new NodeError(`${port}: connect reference-features.${port} (got a tensor with set=${x.meta.set ?? "none"})`)
  if (x.meta.judge !== judge)
    return new NodeError(`${port}: these features come from another judge (${x.meta.judge ?? "none"}, classifier ${judge}): connect the same classifier to reference-features and score`)
  if (x.shape.length !== 2) return new NodeError(`${port}: expected features [N, D], got shape [${x.shape}]`)
  return { count: x.shape[0]!, features: x.data }
}

export default defineNode({
  kind: "score",
  description: "FLD ± bootstrap SE (with its real-vs-real floor), class histogram and balance, accuracy and pairwise MSE/PSNR/SSIM of an image batch.",
  params: Params,
  inputs: {
    images: ImageBatchType,
    classifier: WeightsType,
    real: TensorType,
    floor: optional(TensorType),
    reference: optional(ImageBatchType),
    referenceDataset: optional(DatasetType),
    timing: optional(MetricsType),
  },
  outputs: { metrics: MetricsType },
  heavy: true,
  run: (inputs, p) =>
    Effect.gen(function* () {
      if (inputs.reference !== undefined && inputs.referenceDataset !== undefined) return yield* reject("connect at most one of reference / referenceDataset")
      const judge = judgeFingerprint(inputs.classifier)
      const real = featureSet("real", inputs.real, judge)
      if (real instanceof NodeError) return yield* Effect.fail(real)
      const floor = inputs.floor && featureSet("floor", inputs.floor, judge)
      if (floor instanceof NodeError) return yield* Effect.fail(floor)
      const reference = inputs.reference ?? (inputs.referenceDataset && datasetToImageBatch(inputs.referenceDataset))
      const metrics = yield* withModel("classifier input", () => classifierFromWeights(inputs.classifier), (model) =>
        ml("score", () => scoreImages(model, {
          images: inputs.images, real,
          ...(floor === undefined ? {} : { floor }),
          ...(reference === undefined ? {} : { reference }),
          ...(inputs.timing === undefined ? {} : { passThrough: inputs.timing.scalars }),
        }, p)))
      return { metrics }
    }),
})
