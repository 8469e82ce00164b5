// decode: un-standardises latents (z = z_std * std + mean with the latents' own statistics) and decodes
// them with the VAE into an image batch in [0, 1]. Labels are carried through, and so is a `meta`
// record (sampler, steps, seconds_per_image) when the latents value has one: Latents has no meta field
// today, so a sampler can only pass provenance along once it gains one (read defensively here).
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { ImageBatchType, LatentsType, WeightsType } from "../src/artifacts/index.ts"
import type { ImageBatch } from "../src/artifacts/types.ts"
import { carriedMeta, unstandardise } from "../src/ml/latents.ts"
import { disposeModel } from "../src/ml/nn/index.ts"
import { vaeFromWeights } from "../src/ml/nn/vae.ts"
import { decodeLatents } from "../src/ml/training/vae.ts"

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
    Effect.gen(function* () {
      const z = inputs.latents
      const model = yield* Effect.try({
        try: () => vaeFromWeights(inputs.vae),
        catch: (e) => new NodeError(`vae input: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
      })
      const c = model.config
      if (z.dim !== c.latentDim) {
        disposeModel(model)
        return yield* Effect.fail(new NodeError(`latents have dimension ${z.dim}; the VAE decodes ${c.latentDim}`))
      }
      const pixels = decodeLatents(model, unstandardise(z.values, z), z.count, p.batchSize)
      disposeModel(model)
      const images: ImageBatch = {
        count: z.count, height: c.imageSize, width: c.imageSize, channels: c.inChannels, pixels, labels: z.labels, meta: carriedMeta(z),
      }
      return { images }
    }),
})
