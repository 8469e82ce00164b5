// sample-latent: draws latents from a latent-space model (the MLP) trained by train-latent-diffusion (DDPM, DDIM, or
// rectified-flow Euler / midpoint). The output carries the training latents' mean/std (recorded in the
// model's weights) so `decode` un-standardises them exactly as encode-latents standardised its input.
// Latents have no meta field, so the sampling record (sampler, steps, seconds_per_image, ...) leaves
// as the `timing` metrics; seconds_per_image is wall clock, the one value that differs between runs.
// Requested labels (and classifier-free guidance, as in `sample`) travel on the latents through decode.
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { LatentsType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { ml } from "./_ml.ts"
import { artifactLabels, guidancePlan } from "./_guidance.ts"
import { sampleLatentMlp } from "./_latent-sampling.ts"
import { modelMeta, samplingMetrics, samplingParams, samplingRecord } from "./_sampling.ts"

export default defineNode({
  kind: "sample-latent",
  description: "Samples standardised latents from a latent-space diffusion / rectified-flow model; decode them with `decode`.",
  params: samplingParams({ clipX0: false }),
  inputs: { model: WeightsType },
  outputs: { latents: LatentsType, timing: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const meta = yield* ml("reading the model", () => {
        const m = modelMeta(inputs.model, "latent")
        if (m.latent === undefined) throw invalidInput("the model records no latent mean/std")
        return { ...m, latent: m.latent }
      })
      const guidance = yield* ml("checking guidance", () => guidancePlan(p, meta))
      const out = yield* sampleLatentMlp(inputs.model, meta, p, ctx, "sample", guidance)
      const latents = {
        count: p.count,
        dim: meta.itemShape[0]!,
        values: out.values,
        mean: Float32Array.from(meta.latent.mean),
        std: Float32Array.from(meta.latent.std),
        labels: artifactLabels(guidance),
      }
      return { latents, timing: samplingMetrics(samplingRecord(p, meta, out)) }
    }),
})
