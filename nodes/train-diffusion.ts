// train-diffusion: trains a pixel-space diffusion model, a U-Net on images scaled to [-1, 1] (objective
// ddpm: ε-prediction, Ho et al. 2020; or rectified-flow: velocity, Liu et al. 2022). Outputs the EMA
// weights, whose config records objective, schedule and space for the samplers, and the loss curve.
// With `pairs` (from reflow-pairs on a pixel model) it trains a reflowed rectified flow on fixed
// (noise, sample) couplings (Liu et al. 2022, sec. 2.3). Latent space (the MLP) is its own kind,
// train-latent-diffusion, so each kind's code version (and cache key) covers only its architecture.
// What both kinds share (params, sets, checks, the run) is nodes/_train-diffusion.ts; the loop lives in
// src/ml/training/diffusion.ts.
import { Type } from "@sinclair/typebox"
import { defineNode, optional } from "../src/node.ts"
import { DatasetType, MetricsType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { createUNet, referenceUNetConfig, type UNet, type UNetConfig } from "../src/ml/nn/unet.ts"
import { processParams, trainDiffusionRun, trainingParams } from "./_train-diffusion.ts"

const u = referenceUNetConfig
const Params = Type.Object({
  ...processParams,
  crossAttentionResolutions: Type.Array(Type.Integer({ minimum: 1 }), { default: [14, 7], description: "conditioning cross-attention: spatial sizes with a cross-attention block after each ResBlock." }),
  contextTokens: Type.Integer({ minimum: 1, default: 4, description: "conditioning cross-attention: learned context tokens per class (several: attention over one key would be a fixed bias)." }),
  contextDim: Type.Integer({ minimum: 1, default: 64, description: "conditioning cross-attention: width of a context token." }),
  ...trainingParams,
  // the U-Net (defaults = the reference U-Net, the benchmarked model)
  baseChannels: Type.Integer({ minimum: 1, default: u.baseChannels, description: "U-Net channels at full resolution (multiple of 8: GroupNorm(8))." }),
  channelMults: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [...u.channelMults], description: "U-Net channel multiplier per level; resolution halves between levels." }),
  resBlocksPerLevel: Type.Integer({ minimum: 1, default: u.resBlocksPerLevel }),
  attentionResolutions: Type.Array(Type.Integer({ minimum: 1 }), { default: [...u.attentionResolutions], description: "Spatial sizes (e.g. 7) with self-attention." }),
  middleBlock: Type.Union([Type.Literal("none"), Type.Literal("res-attn-res")], { default: "none", description: "U-Net middle block: none (the reference) or ResBlock -> self-attention -> ResBlock." }),
  dropout: Type.Number({ minimum: 0, maximum: 1, exclusiveMaximum: 1, default: u.dropout }),
  timeEmbedDim: Type.Integer({ minimum: 2, default: u.timeEmbedDim, description: "Time-embedding size (default: the reference U-Net's)." }),
})
type P = typeof Params.static

/** The U-Net needs the image side divisible by 2^(levels-1) (skips must match) and channels divisible by its 8 groups. */
const unetProblem = (p: P, [height, width]: readonly number[]): string | undefined => {
  const f = 2 ** (p.channelMults.length - 1)
  if (height! % f !== 0 || width! % f !== 0)
    return `${p.channelMults.length} U-Net levels halve ${height}x${width} ${p.channelMults.length - 1} times; the size must be divisible by ${f}`
  const bad = p.channelMults.map((m) => m * p.baseChannels).find((c) => c % 8 !== 0)
  return bad === undefined ? undefined : `U-Net level with ${bad} channels: channels must be multiples of 8 (GroupNorm with 8 groups)`
}

/** The U-Net for items [H, W, C] as the params describe it. */
export const unetConfigOf = (p: P, [height, , channels]: readonly number[]): UNetConfig => ({
  inChannels: channels!, outChannels: channels!, baseChannels: p.baseChannels, channelMults: p.channelMults,
  resBlocksPerLevel: p.resBlocksPerLevel, attentionResolutions: p.attentionResolutions, dropout: p.dropout,
  timeEmbedDim: p.timeEmbedDim, imageSize: height!,
  ...(p.middleBlock === "none" ? {} : { middleBlock: p.middleBlock }),
  ...(p.conditioning === "none"
    ? {}
    : {
        numClasses: p.numClasses,
        conditioning: p.conditioning,
        ...(p.conditioning === "channel" ? { classChannels: p.classChannels } : {}),
        ...(p.conditioning === "cross-attention"
          ? { crossAttentionResolutions: p.crossAttentionResolutions, contextTokens: p.contextTokens, contextDim: p.contextDim }
          : {}),
      }),
})

/** A U-Net for items [H, W, C]; throws MlError on a misfit. */
const buildUNet = (p: P, itemShape: readonly number[]): UNet => {
  if (itemShape.length !== 3) throw invalidInput(`train-diffusion needs images [H, W, C], got items of shape [${itemShape}] (latent vectors: use kind train-latent-diffusion)`)
  const problem = unetProblem(p, itemShape)
  if (problem !== undefined) throw invalidInput(problem)
  return createUNet(unetConfigOf(p, itemShape), p.seed)
}

export default defineNode({
  kind: "train-diffusion",
  description: "Trains a pixel-space DDPM (ε) or rectified-flow (velocity) U-Net on images (or reflow pairs), optionally class-conditional for guidance; outputs EMA weights and the loss curve. Latents: train-latent-diffusion.",
  params: Params,
  inputs: { dataset: optional(DatasetType), pairs: optional(TensorType) },
  outputs: { model: WeightsType, history: MetricsType },
  heavy: true,
  run: trainDiffusionRun({ space: "pixel", build: buildUNet }),
})
