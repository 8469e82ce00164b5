// train-latent-diffusion: trains a latent-space diffusion model, an MLP on standardised VAE latents
// (objective ddpm: ε-prediction, Ho et al. 2020; or rectified-flow: velocity, Liu et al. 2022; latent
// diffusion after Rombach et al. 2022). Outputs the EMA weights, whose config records objective,
// schedule, space and the latents' mean/std (so decode can un-standardise samples), and the loss curve.
// With `pairs` (from reflow-pairs on a latent model) it trains a reflowed rectified flow. The U-Net
// (pixel space) is its own kind, train-diffusion, so each kind's code version (and cache key) covers
// only its architecture. What both share is nodes/_train-diffusion.ts.
import { Type } from "@sinclair/typebox"
import { defineNode, optional } from "../src/node.ts"
import { LatentsType, MetricsType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { createLatentMlp, type LatentMlpConfig, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import type { Model } from "../src/ml/nn/model.ts"
import { processParams, trainDiffusionRun, trainingParams } from "./_train-diffusion.ts"

const Params = Type.Object({
  ...processParams,
  // The MLP has no attention: the schema refuses cross-attention at load, before any work.
  conditioning: Type.Union([Type.Literal("none"), Type.Literal("embedding"), Type.Literal("channel")], {
    default: "none",
    description: "Class-label route for classifier-free guidance: none (unconditional); embedding (added to the time embedding); channel (a learned label embedding, 16 x classChannels wide, concatenated to the input). Cross-attention needs the U-Net (train-diffusion).",
  }),
  ...trainingParams,
  // the MLP (defaults = the reference latent MLP)
  mlpWidth: Type.Integer({ minimum: 1, default: referenceMlpConfig.hidden[0] ?? 256, description: "Latent MLP hidden width." }),
  mlpDepth: Type.Integer({ minimum: 1, default: referenceMlpConfig.hidden.length, description: "Latent MLP hidden layers." }),
  timeEmbedDim: Type.Integer({ minimum: 2, default: referenceMlpConfig.timeEmbedDim, description: "Time-embedding size (default: the reference latent MLP's)." }),
})
type P = typeof Params.static

/** The MLP for items [D] as the params describe it. */
export const mlpConfigOf = (p: P, inDim: number): LatentMlpConfig => {
  const route = p.conditioning
  return {
    inDim, timeEmbedDim: p.timeEmbedDim, hidden: new Array<number>(p.mlpDepth).fill(p.mlpWidth),
    ...(route === "none" ? {} : { numClasses: p.numClasses, conditioning: route, ...(route === "channel" ? { labelEmbedDim: 16 * p.classChannels } : {}) }),
  }
}

/** An MLP for items [D]; throws MlError on a misfit. */
const buildMlp = (p: P, itemShape: readonly number[]): Model => {
  if (itemShape.length !== 1) throw invalidInput(`train-latent-diffusion needs vectors [D], got items of shape [${itemShape}] (images: use kind train-diffusion)`)
  return createLatentMlp(mlpConfigOf(p, itemShape[0]!), p.seed)
}

export default defineNode({
  kind: "train-latent-diffusion",
  description: "Trains a latent-space DDPM (ε) or rectified-flow (velocity) MLP on VAE latents (or reflow pairs), optionally class-conditional for guidance; outputs EMA weights and the loss curve. Images: train-diffusion.",
  params: Params,
  inputs: { latents: optional(LatentsType), pairs: optional(TensorType) },
  outputs: { model: WeightsType, history: MetricsType },
  heavy: true,
  run: trainDiffusionRun({ space: "latent", build: buildMlp }),
})
