// encode-latents: encodes a dataset with a trained VAE (train-vae) into latents z [N, D], the posterior
// mean or one seeded sample z = mu + sigma eps, then standardises every dimension (z - mean) / std
// (src/ml/latents.ts). mean/std travel in the Latents artifact so `decode` can undo it; labels are kept.
import { Type } from "@sinclair/typebox"
import { defineNode } from "../src/node.ts"
import { DatasetType, LatentsType, WeightsType } from "../src/artifacts/index.ts"
import { toUnitFloat } from "../src/ml/data/pixels.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { latentStats, standardise } from "../src/ml/latents.ts"
import { vaeFromWeights } from "../src/ml/nn/vae.ts"
import { Rng } from "../src/ml/random.ts"
import { encodeImages } from "../src/ml/training/vae.ts"
import { ml, withModel } from "./_ml.ts"

const Params = Type.Object({
  mode: Type.Union([Type.Literal("mean"), Type.Literal("sample")], {
    default: "mean", description: "Encode to the posterior mean mu, or to one sample mu + sigma eps (seeded).",
  }),
  seed: Type.Integer({ default: 0, description: "Seeds eps in mode \"sample\"." }),
  batchSize: Type.Integer({ minimum: 1, default: 256 }),
})

export default defineNode({
  kind: "encode-latents",
  description: "VAE-encodes a dataset (mean or seeded sample) and standardises each latent dimension.",
  params: Params,
  inputs: { dataset: DatasetType, vae: WeightsType },
  outputs: { latents: LatentsType },
  heavy: true,
  run: (inputs, p) =>
    withModel("vae input", () => vaeFromWeights(inputs.vae), (model) =>
      ml("encoding", () => {
        const d = inputs.dataset
        const c = model.config
        if (d.height !== c.imageSize || d.width !== c.imageSize || d.channels !== c.inChannels)
          throw invalidInput(`dataset images are ${d.height}x${d.width}x${d.channels}; the VAE takes ${c.imageSize}x${c.imageSize}x${c.inChannels}`)
        if (d.count < 1) throw invalidInput("the dataset is empty")
        const z = encodeImages(model, toUnitFloat(d.images), d.count, p.mode, new Rng(p.seed).fork("encode-latents"), p.batchSize)
        const stats = latentStats(z, d.count, c.latentDim)
        return { latents: { count: d.count, dim: c.latentDim, values: standardise(z, stats), mean: stats.mean, std: stats.std, labels: d.labels } }
      })),
})
