// decode: un-standardises latents (z = z_std * std + mean with the latents' own statistics) and decodes
// them with the VAE into an image batch in [0, 1]. Labels are carried through, and so is a `meta`
// record (sampler, steps, seconds_per_image) when the latents value has one: Latents has no meta field
// today, so a sampler can only pass provenance along once it gains one (read defensively here).
// A latent sample is only an image once decoded, so its cost per image includes this node's: given the
// sampler's `timing`, the `timing` output is that record with decode_seconds_per_image added to
// seconds_per_image (sampling_seconds_per_image keeps the sampler's own). Wall clock, like the
// sampler's; the images do not depend on it.
import { performance } from "node:perf_hooks"
import { Type } from "@sinclair/typebox"
import { defineNode, optional } from "../src/node.ts"
import { ImageBatchType, LatentsType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import type { ImageBatch, Metrics } from "../src/artifacts/types.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { carriedMeta, unstandardise } from "../src/ml/latents.ts"
import { vaeFromWeights } from "../src/ml/nn/vae.ts"
import { decodeLatents } from "../src/ml/training/vae.ts"
import { ml, withModel } from "./_ml.ts"

/** The sampler's timing with the decoder's seconds per image added (or the decoder's alone). */
export const decodeTiming = (sampling: Metrics | undefined, decodeSecondsPerImage: number): Metrics => {
  const before = sampling?.scalars.seconds_per_image
  const own = { decode_seconds_per_image: decodeSecondsPerImage }
  return typeof before === "number"
    ? { scalars: { ...sampling?.scalars, ...own, sampling_seconds_per_image: before, seconds_per_image: before + decodeSecondsPerImage }, tables: sampling?.tables ?? {} }
    : { scalars: { ...sampling?.scalars, ...own, seconds_per_image: decodeSecondsPerImage }, tables: sampling?.tables ?? {} }
}

const Params = Type.Object({
  batchSize: Type.Integer({ minimum: 1, default: 256, description: "Latents decoded per VAE call (memory only: the images do not depend on it)." }),
})

export default defineNode({
  kind: "decode",
  description: "Un-standardises latents with their stored mean/std and decodes them with the VAE to images in [0, 1]; passes the sampler's `timing` on with the decoder's seconds per image added.",
  params: Params,
  inputs: { latents: LatentsType, vae: WeightsType, timing: optional(MetricsType) },
  outputs: { images: ImageBatchType, timing: MetricsType },
  heavy: true,
  run: (inputs, p) =>
    withModel("vae input", () => vaeFromWeights(inputs.vae), (model) =>
      ml("decoding", () => {
        const z = inputs.latents
        const c = model.config
        if (z.dim !== c.latentDim) throw invalidInput(`latents have dimension ${z.dim}; the VAE decodes ${c.latentDim}`)
        const started = performance.now()
        const pixels = decodeLatents(model, unstandardise(z.values, z), z.count, p.batchSize)
        const seconds = (performance.now() - started) / 1000
        const images: ImageBatch = {
          count: z.count, height: c.imageSize, width: c.imageSize, channels: c.inChannels, pixels, labels: z.labels, meta: carriedMeta(z),
        }
        return { images, timing: decodeTiming(inputs.timing, seconds / z.count) }
      })),
})
