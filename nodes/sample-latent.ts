// sample-latent: draws latents from a latent-space model trained by train-diffusion (DDPM, DDIM, or
// rectified-flow Euler / midpoint). The output carries the training latents' mean/std (recorded in the
// model's weights) so `decode` un-standardises them exactly as encode-latents standardised its input.
// Latents have no meta field, so the sampling record (sampler, steps, seconds_per_image, ...) leaves
// as the `timing` metrics; seconds_per_image is wall clock, the one value that differs between runs.
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { LatentsType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import { samplingMetrics, samplingParams, samplingRecord, sampleWeights } from "../src/ml/sampling.ts"

const seconds = (): number => performance.now() / 1000

export default defineNode({
  kind: "sample-latent",
  description: "Samples standardised latents from a latent-space diffusion / rectified-flow model; decode them with `decode`.",
  params: samplingParams({ clipX0: false }),
  inputs: { model: WeightsType },
  outputs: { latents: LatentsType, timing: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const out = yield* Effect.try({
        try: () =>
          sampleWeights(inputs.model, "latent", p, {
            now: seconds,
            interrupted: ctx.interrupted,
            onStep: (step, total) => ctx.progress({ phase: "sample", step, total }),
          }),
        catch: (e) => new NodeError(`sampling failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
      })
      if (!out.ok) return yield* Effect.fail(new NodeError(out.reason === "interrupted" ? "interrupted" : out.message))
      const { latent, itemShape } = out.meta
      const dim = itemShape[0]!
      if (latent === undefined) return yield* Effect.fail(new NodeError("the model records no latent mean/std"))
      const latents = {
        count: p.count,
        dim,
        values: out.values,
        mean: Float32Array.from(latent.mean),
        std: Float32Array.from(latent.std),
        labels: null,
      }
      return { latents, timing: samplingMetrics(samplingRecord(p, out.meta, out.seconds, out.evals)) }
    }),
})
