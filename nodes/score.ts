// score: judges an image batch with the trained LeNet (train-classifier): FLD against real test images
// next to the real-vs-real floor at the same sample count, the class histogram, accuracy against
// requested labels, pairwise MSE/PSNR/SSIM against reference images, and the batch's numeric meta
// (steps, evals_per_image, ...) passed through, as are the scalars of an optional `timing` metrics
// input (the sampling node's, with the wall-clock seconds_per_image that sample artifacts leave out). The math is in src/ml/scoring.ts.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError, optional } from "../src/node.ts"
import { DatasetType, ImageBatchType, MetricsType, WeightsType, datasetToImageBatch } from "../src/artifacts/index.ts"
import { classifierFromWeights } from "../src/ml/nn/classifier.ts"
import { disposeModel } from "../src/ml/nn/model.ts"
import { Rng } from "../src/ml/random.ts"
import { scoreImages, subsetDataset } from "../src/ml/scoring.ts"

const Params = Type.Object({
  realCount: Type.Integer({ minimum: 2, default: 10000, description: "Real test images in the FLD reference (a seeded subset when fewer than given)." }),
  seed: Type.Integer({ default: 0, description: "Seeds the floor subset of realTrain (and the realCount subset)." }),
  batchSize: Type.Integer({ minimum: 1, default: 500, description: "Judge batch size." }),
})

const errorMessage = (e: unknown): string => (e instanceof Error ? e.message : String(e))

export default defineNode({
  kind: "score",
  description: "FLD (with its real-vs-real floor), class histogram, accuracy and pairwise MSE/PSNR/SSIM of an image batch.",
  params: Params,
  inputs: {
    images: ImageBatchType,
    classifier: WeightsType,
    real: DatasetType,
    realTrain: optional(DatasetType),
    reference: optional(ImageBatchType),
    referenceDataset: optional(DatasetType),
    timing: optional(MetricsType),
  },
  outputs: { metrics: MetricsType },
  heavy: true,
  run: (inputs, p) =>
    Effect.gen(function* () {
      if (inputs.reference !== undefined && inputs.referenceDataset !== undefined)
        return yield* Effect.fail(new NodeError("connect at most one of reference / referenceDataset"))
      const rng = new Rng(p.seed)
      const real = datasetToImageBatch(inputs.real.count > p.realCount ? subsetDataset(inputs.real, p.realCount, rng.fork("real")) : inputs.real)
      // The floor: as many real train images as there are samples (a seeded subset), same reference.
      const floor = inputs.realTrain && datasetToImageBatch(subsetDataset(inputs.realTrain, inputs.images.count, rng.fork("floor")))
      const reference = inputs.reference ?? (inputs.referenceDataset && datasetToImageBatch(inputs.referenceDataset))
      const model = yield* Effect.try({
        try: () => classifierFromWeights(inputs.classifier),
        catch: (e) => new NodeError(`classifier input: ${errorMessage(e)}`, { cause: e }),
      })
      const metrics = yield* Effect.try({
        try: () => scoreImages(model, {
          images: inputs.images, real,
          ...(floor === undefined ? {} : { floor }),
          ...(reference === undefined ? {} : { reference }),
          ...(inputs.timing === undefined ? {} : { passThrough: inputs.timing.scalars }),
        }, { batchSize: p.batchSize }),
        catch: (e) => new NodeError(errorMessage(e), { cause: e }),
      }).pipe(Effect.ensuring(Effect.sync(() => disposeModel(model))))
      return { metrics }
    }),
})
