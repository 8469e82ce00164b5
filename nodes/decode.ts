// decode: un-standardises latents (z = z_std * std + mean with the latents' own statistics) and decodes
// them with the VAE into an image batch in [0, 1]. Labels are carried through, and so is a `meta`
// record (sampler, steps, seconds_per_image) when the latents value has one: Latents has no meta field
// today, so a sampler can only pass provenance along once it gains one (read defensively here).
import { Type } from "@sinclair/typebox"
import { defineNode } from "../src/node.ts"
import { ImageBatchType, LatentsType, WeightsType } from "../src/artifacts/index.ts"
import type { ImageBatch } from "../src/artifacts/types.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { carriedMeta, unstandardise } from "../src/ml/latents.ts"
import { vaeFromWeights } from "../src/ml/nn/vae.ts"
import { decodeLatents } from "../src/ml/training/vae.ts"
import { ml, withModel } from "./_ml.ts"

const Params = Type.Object({
  batchSize: Type.Integer({ minimum: 1, default: 256 }),
})

export default defineNode({
  kind: "decode",
  description: "Un-standardises latents with their stored mean/std and decodes them with the VAE to images in [0, 1].",
  params: Params,
  inputs: { latents: LatentsType, vae: WeightsType },
  outputs: { images: ImageBatchType },
  heavy: true,
  run: (inputs, p) =>
    withModel("vae input", () => vaeFromWeights(inputs.vae), (model) =>
      ml("decoding", () => {
        const z = inputs.latents
        const c = model.config
        if (z.dim !== c.latentDim) throw invalidInput(`latents have dimension ${z.dim}; the VAE decodes ${c.latentDim}`)
        const pixels = decodeLatents(model, unstandardise(z.values, z), z.count, p.batchSize)
        const images: ImageBatch = {
          count: z.count, height: c.imageSize, width: c.imageSize, channels: c.inChannels, pixels, labels: z.labels, meta: carriedMeta(z),
        }
        return { images }
      })),
})
