// sample: draws images from a pixel-space model trained by train-diffusion, with DDPM (ancestral),
// DDIM, or rectified-flow Euler / midpoint, and renders a PNG grid of them. The sampling itself is
// src/ml/sampling.ts (shared with sample-latent) over the one loop in src/ml/samplers/loop.ts.
// The images' meta records sampler, steps, objective and evaluations per image, so equal inputs and
// params give byte-equal images; the wall clock (seconds_per_image) leaves as the `timing` metrics,
// which score nodes take as their optional `timing` input.
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { FileType, ImageBatchType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import { sampleGrid, samplerLabel, samplingMetrics, samplingParams, samplingRecord, sampleWeights, toImageBatch, withoutWallClock } from "../src/ml/sampling.ts"

const seconds = (): number => performance.now() / 1000

export default defineNode({
  kind: "sample",
  description: "Samples images from a pixel-space diffusion / rectified-flow model (DDPM, DDIM, RF Euler/midpoint) plus a PNG grid.",
  params: samplingParams({ clipX0: true }),
  inputs: { model: WeightsType },
  outputs: { images: ImageBatchType, grid: FileType, timing: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const out = yield* Effect.try({
        try: () =>
          sampleWeights(inputs.model, "pixel", p, {
            now: seconds,
            interrupted: ctx.interrupted,
            onStep: (step, total) => ctx.progress({ phase: "sample", step, total }),
          }),
        catch: (e) => new NodeError(`sampling failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
      })
      if (!out.ok) return yield* Effect.fail(new NodeError(out.reason === "interrupted" ? "interrupted" : out.message))
      const record = samplingRecord(p, out.meta, out.seconds, out.evals)
      const images = toImageBatch(out.values, out.meta.itemShape, withoutWallClock(record))
      return { images, grid: sampleGrid(images, samplerLabel(p)), timing: samplingMetrics(record) }
    }),
})
