// train-diffusion: trains a diffusion model (objective ddpm: ε-prediction, Ho et al. 2020; or
// rectified-flow: velocity, Liu et al. 2022) in pixel space (U-Net on a dataset, images scaled to
// [-1, 1]) or latent space (MLP on standardised VAE latents). Outputs the EMA weights, whose config
// records objective, schedule and space (and, in latent space, the latents' mean/std) for the samplers,
// and the loss curve. With `pairs` (from reflow-pairs) it trains a reflowed rectified flow on fixed
// (noise, sample) couplings (Liu et al. 2022, sec. 2.3). The loop lives in src/ml/training/diffusion.ts.
// Determinism: the weights depend only on inputs and params (seed); `history` also holds the training
// time and throughput, which vary run to run.
import { Type } from "@sinclair/typebox"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { defineNode, optional } from "../src/node.ts"
import { DatasetType, LatentsType, MetricsType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import type { Dataset, Latents, Metrics, Tensor } from "../src/artifacts/types.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import { toSignedUnit } from "../src/ml/data/pixels.ts"
import type { DiffusionMeta, DiffusionProcess } from "../src/ml/diffusion-meta.ts"
import { withDiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { createLatentMlp, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import { countParams, type Model } from "../src/ml/nn/model.ts"
import { createUNet, referenceUNetConfig, type UNetConfig } from "../src/ml/nn/unet.ts"
import { type ReflowPairs, readReflowPairs } from "../src/ml/reflow.ts"
import { cosineDefaults, linearDefaults, type ScheduleConfig } from "../src/ml/schedules.ts"
import { batchesPerEpoch, effectiveBatch, trainDiffusion, type TrainingSet } from "../src/ml/training/diffusion.ts"
import { ml, mlAsync, reject, seconds, withModel } from "./_ml.ts"

const u = referenceUNetConfig
const Params = Type.Object({
  objective: Type.Union([Type.Literal("ddpm"), Type.Literal("rectified-flow")], {
    default: "ddpm",
    description: "ddpm: predict the noise ε (L_simple); rectified-flow: predict the velocity x1 - x0 of x_t = t·x1 + (1-t)·x0 (x0 noise, x1 data).",
  }),
  space: Type.Union([Type.Literal("pixel"), Type.Literal("latent")], {
    default: "pixel",
    description: "pixel: U-Net on the `dataset` input; latent: MLP on the `latents` input.",
  }),
  schedule: Type.Union([Type.Literal("linear"), Type.Literal("cosine")], {
    default: "linear",
    description: "ddpm noise schedule: linear betas 1e-4..0.02 (Ho et al.) or cosine (Nichol & Dhariwal, s = 0.008).",
  }),
  T: Type.Integer({ minimum: 2, maximum: 4000, default: 1000, description: "ddpm: diffusion timesteps." }),
  tSampling: Type.Union([Type.Literal("uniform"), Type.Literal("logit-normal")], {
    default: "uniform",
    description: "rectified-flow: training distribution of t; logit-normal = sigmoid(N(tMean, tStd²)) (Esser et al. 2024).",
  }),
  tMean: Type.Number({ default: 0, description: "rectified-flow, logit-normal: mean of the normal." }),
  tStd: Type.Number({ exclusiveMinimum: 0, default: 1, description: "rectified-flow, logit-normal: std of the normal." }),
  conditioning: Type.Union([Type.Literal("none"), Type.Literal("embedding"), Type.Literal("channel"), Type.Literal("cross-attention")], {
    default: "none",
    description: "Class-label route for classifier-free guidance: none (unconditional); embedding (added to the time embedding); channel (a learned per-class map as extra input channels; the latent MLP concatenates a label embedding); cross-attention (U-Net features attend to learned per-class tokens).",
  }),
  pUncond: Type.Number({ minimum: 0, maximum: 1, default: 0.1, description: "Conditional models: probability of training on the null label instead of the true one (Ho & Salimans 2022)." }),
  numClasses: Type.Integer({ minimum: 1, default: 10, description: "Conditional models: classes 0..numClasses-1; numClasses is the null class." }),
  classChannels: Type.Integer({ minimum: 1, default: 1, description: "conditioning channel (U-Net): channels of the class map; (MLP) width of the label embedding x 16." }),
  crossAttentionResolutions: Type.Array(Type.Integer({ minimum: 1 }), { default: [14, 7], description: "conditioning cross-attention: spatial sizes with a cross-attention block after each ResBlock." }),
  contextTokens: Type.Integer({ minimum: 1, default: 4, description: "conditioning cross-attention: learned context tokens per class (several: attention over one key would be a fixed bias)." }),
  contextDim: Type.Integer({ minimum: 1, default: 64, description: "conditioning cross-attention: width of a context token." }),
  epochs: Type.Integer({ minimum: 1, default: 3, description: "Passes over the (limited) data; ignored when `steps` is set." }),
  steps: Type.Optional(Type.Integer({ minimum: 1, description: "Optimizer steps; overrides epochs." })),
  batchSize: Type.Integer({ minimum: 1, default: 128 }),
  lr: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: "Adam learning rate after warm-up." }),
  warmupSteps: Type.Integer({ minimum: 0, default: 200, description: "Linear lr warm-up steps." }),
  lrDecay: Type.Union([Type.Literal("constant"), Type.Literal("cosine")], {
    default: "constant",
    description: "After warm-up: keep `lr`, or decay it along a half cosine to 0 at the last step.",
  }),
  clipNorm: Type.Number({ minimum: 0, default: 1, description: "Clip the global gradient norm (0: off)." }),
  emaDecay: Type.Number({ minimum: 0, maximum: 1, default: 0.999, description: "EMA decay of the saved weights (warmed up as min(decay, (1+n)/(10+n)))." }),
  seed: Type.Integer({ default: 0, description: "Seeds init, data order, t, noise, dropout and label dropout." }),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: "Train on the first `limit` items only." })),
  // pixel space: U-Net (defaults = the reference U-Net, the benchmarked model)
  baseChannels: Type.Integer({ minimum: 1, default: u.baseChannels, description: "U-Net channels at full resolution (multiple of 8: GroupNorm(8))." }),
  channelMults: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [...u.channelMults], description: "U-Net channel multiplier per level; resolution halves between levels." }),
  resBlocksPerLevel: Type.Integer({ minimum: 1, default: u.resBlocksPerLevel }),
  attentionResolutions: Type.Array(Type.Integer({ minimum: 1 }), { default: [...u.attentionResolutions], description: "Spatial sizes (e.g. 7) with self-attention." }),
  middleBlock: Type.Union([Type.Literal("none"), Type.Literal("res-attn-res")], { default: "none", description: "U-Net middle block: none (the reference) or ResBlock -> self-attention -> ResBlock." }),
  dropout: Type.Number({ minimum: 0, maximum: 1, exclusiveMaximum: 1, default: u.dropout }),
  // latent space: MLP (defaults = the reference latent MLP)
  mlpWidth: Type.Integer({ minimum: 1, default: referenceMlpConfig.hidden[0] ?? 256, description: "Latent MLP hidden width." }),
  mlpDepth: Type.Integer({ minimum: 1, default: referenceMlpConfig.hidden.length, description: "Latent MLP hidden layers." }),
  timeEmbedDim: Type.Optional(Type.Integer({ minimum: 2, description: `Time-embedding size (default ${u.timeEmbedDim} for the U-Net, ${referenceMlpConfig.timeEmbedDim} for the MLP).` })),
})
type P = typeof Params.static

const scheduleOf = (p: P): ScheduleConfig =>
  p.schedule === "linear" ? { ...linearDefaults, T: p.T } : { ...cosineDefaults, T: p.T }

const processOf = (p: P): DiffusionProcess =>
  p.objective === "ddpm"
    ? { objective: "ddpm", schedule: scheduleOf(p) }
    : { objective: "rectified-flow", tSampling: p.tSampling === "uniform" ? { kind: "uniform" } : { kind: "logit-normal", mean: p.tMean, std: p.tStd } }

/** Class ids of items as int32 (labels are stored as uint8). */
const labelGather = (labels: Uint8Array) => (idx: ArrayLike<number>): Int32Array => Int32Array.from(gatherRows(labels, 1, idx))

/** Images scaled to [-1, 1], the data range both objectives assume (DDPM sec. 3.3), with their labels. */
const pixelSet = (d: Dataset, limit: number): TrainingSet => {
  const size = d.height * d.width * d.channels
  return {
    count: Math.min(d.count, limit),
    itemShape: [d.height, d.width, d.channels],
    rows: (idx) => toSignedUnit(gatherRows(d.images, size, idx)),
    labels: labelGather(d.labels),
  }
}

const latentSet = (z: Latents, limit: number): TrainingSet => ({
  count: Math.min(z.count, limit),
  itemShape: [z.dim],
  rows: (idx) => gatherRows(z.values, z.dim, idx),
  ...(z.labels === null ? {} : { labels: labelGather(z.labels) }),
})

/** Reflow: items are the samples x1, each with the noise x0 it was generated from. */
const pairsSet = (r: ReflowPairs, limit: number): TrainingSet => {
  const size = r.itemShape.reduce((a, b) => a * b, 1)
  const gather = (which: 0 | 1) => (idx: ArrayLike<number>): Float32Array =>
    gatherRows(r.data, size, Array.from(idx, (i) => 2 * i + which))
  return { count: Math.min(r.count, limit), itemShape: r.itemShape, rows: gather(1), noise: gather(0) }
}

/** The U-Net needs the image side divisible by 2^(levels-1) (skips must match) and channels divisible by its 8 groups. */
const unetProblem = (p: P, [height, width]: readonly number[]): string | undefined => {
  const f = 2 ** (p.channelMults.length - 1)
  if (height! % f !== 0 || width! % f !== 0)
    return `${p.channelMults.length} U-Net levels halve ${height}x${width} ${p.channelMults.length - 1} times; the size must be divisible by ${f}`
  const bad = p.channelMults.map((m) => m * p.baseChannels).find((c) => c % 8 !== 0)
  return bad === undefined ? undefined : `U-Net level with ${bad} channels: channels must be multiples of 8 (GroupNorm with 8 groups)`
}

/** The U-Net for items [H, W, C] (pixel space) as the params describe it. */
export const unetConfigOf = (p: P, [height, , channels]: readonly number[]): UNetConfig => ({
  inChannels: channels!, outChannels: channels!, baseChannels: p.baseChannels, channelMults: p.channelMults,
  resBlocksPerLevel: p.resBlocksPerLevel, attentionResolutions: p.attentionResolutions, dropout: p.dropout,
  timeEmbedDim: p.timeEmbedDim ?? u.timeEmbedDim, imageSize: height!,
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

/** A U-Net for items [H, W, C] (pixel space) or an MLP for items [D] (latent space); throws MlError on a misfit. */
const buildModel = (p: P, itemShape: readonly number[]): Model => {
  if (p.space === "pixel") {
    if (itemShape.length !== 3) throw invalidInput(`space pixel needs images [H, W, C], got items of shape [${itemShape}]`)
    const problem = unetProblem(p, itemShape)
    if (problem !== undefined) throw invalidInput(problem)
    return createUNet(unetConfigOf(p, itemShape), p.seed)
  }
  if (itemShape.length !== 1) throw invalidInput(`space latent needs vectors [D], got items of shape [${itemShape}]`)
  if (p.conditioning === "cross-attention") throw invalidInput("the latent MLP has no attention: use conditioning embedding or channel")
  return createLatentMlp(
    {
      inDim: itemShape[0]!, timeEmbedDim: p.timeEmbedDim ?? referenceMlpConfig.timeEmbedDim, hidden: new Array<number>(p.mlpDepth).fill(p.mlpWidth),
      ...(p.conditioning === "none" ? {} : { numClasses: p.numClasses, conditioning: p.conditioning, ...(p.conditioning === "channel" ? { labelEmbedDim: 16 * p.classChannels } : {}) }),
    },
    p.seed,
  )
}

const inputProblem = (p: P, inputs: { dataset?: Dataset; latents?: Latents; pairs?: Tensor }): string | undefined => {
  const given = (["dataset", "latents", "pairs"] as const).filter((k) => inputs[k] !== undefined)
  if (given.length > 1) return `connect exactly one of \`dataset\` (space pixel), \`latents\` (space latent) and \`pairs\` (reflow), not ${given.join(" and ")}`
  if (given.length === 0) return `connect \`${p.space === "pixel" ? "dataset" : "latents"}\` (space ${p.space})`
  if (inputs.pairs !== undefined) {
    if (p.objective !== "rectified-flow") return "`pairs` (reflow) trains a rectified flow: set objective: rectified-flow"
    if (p.conditioning !== "none") return "`pairs` (reflow) carry no labels: a reflowed model is unconditional (conditioning: none)"
    return undefined
  }
  if (p.space === "pixel" && inputs.latents !== undefined) return "space pixel trains on images: connect `dataset`, or set space: latent to train on `latents`"
  if (p.space === "latent" && inputs.dataset !== undefined) return "space latent trains on latents: connect `latents`, or set space: pixel to train on `dataset`"
  const count = inputs.dataset?.count ?? inputs.latents?.count ?? 0
  if (count < 1) return "the training input is empty"
  if (p.conditioning !== "none") {
    const labels = inputs.dataset?.labels ?? inputs.latents?.labels ?? null
    if (labels === null) return `conditioning ${p.conditioning} needs labelled training data; these latents carry no labels`
    const bad = labels.find((l) => l >= p.numClasses)
    if (bad !== undefined) return `label ${bad} is outside 0..${p.numClasses - 1} (numClasses ${p.numClasses})`
  }
  return undefined
}

export default defineNode({
  kind: "train-diffusion",
  description: "Trains a DDPM (ε) or rectified-flow (velocity) model on images (U-Net) or VAE latents (MLP), optionally class-conditional for guidance; outputs EMA weights and the loss curve.",
  params: Params,
  inputs: { dataset: optional(DatasetType), latents: optional(LatentsType), pairs: optional(TensorType) },
  outputs: { model: WeightsType, history: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const problem = inputProblem(p, inputs)
      if (problem !== undefined) return yield* reject(problem)
      const limit = p.limit ?? Number.MAX_SAFE_INTEGER
      const { dataset, latents } = inputs
      const pairs = inputs.pairs === undefined ? undefined : yield* ml("reading the reflow pairs", () => readReflowPairs(inputs.pairs!))
      if (pairs !== undefined && pairs.space !== p.space) return yield* reject(`the reflow pairs are in ${pairs.space} space; set space: ${pairs.space}`)
      const set =
        dataset !== undefined ? pixelSet(dataset, limit)
        : latents !== undefined ? latentSet(latents, limit)
        : pairsSet(pairs!, limit)
      const latent = latents !== undefined ? { mean: Array.from(latents.mean), std: Array.from(latents.std) } : pairs?.latent
      const steps = p.steps ?? p.epochs * batchesPerEpoch(set.count, p.batchSize)
      const B = effectiveBatch(set.count, p.batchSize)
      const trained = yield* withModel("building the model", () => buildModel(p, set.itemShape), (model) => {
        const nParams = countParams(model)
        ctx.log(`${model.architecture} (${nParams.toLocaleString("en")} params), ${set.count} items, batch ${B}, ${steps} steps, backend ${tf.getBackend()}`)
        return mlAsync("training", () =>
          trainDiffusion(
            model,
            set,
            {
              process: processOf(p), steps, batchSize: p.batchSize, lr: p.lr, warmupSteps: p.warmupSteps, lrDecay: p.lrDecay, clipNorm: p.clipNorm,
              emaDecay: p.emaDecay, seed: p.seed, ...(p.conditioning === "none" ? {} : { labels: { nullLabel: p.numClasses, pUncond: p.pUncond } }),
            },
            {
              now: seconds,
              interrupted: ctx.interrupted,
              // The progress display computes it/s and ETA itself.
              onStep: (r) => ctx.progress({ phase: "train", step: r.step, total: r.total, epoch: r.epoch, metrics: { loss: r.smoothLoss } }),
            },
          )).pipe(Effect.map((r) => ({ ...r, nParams })))
      })
      const meta: DiffusionMeta = {
        objective: p.objective,
        space: p.space,
        itemShape: set.itemShape,
        ...(p.objective === "ddpm" ? { schedule: scheduleOf(p) } : {}),
        ...(latent !== undefined ? { latent } : {}),
        ...(p.conditioning === "none" ? {} : { numClasses: p.numClasses }),
      }
      const history: Metrics = {
        scalars: {
          final_loss: trained.finalLoss,
          final_ema_loss: trained.finalSmoothLoss,
          steps: trained.steps,
          epochs: trained.steps / batchesPerEpoch(set.count, p.batchSize),
          batch_size: B,
          params: trained.nParams,
          seconds: trained.seconds,
          images_per_sec: trained.imagesPerSec,
        },
        tables: { loss: trained.curve },
      }
      return { model: withDiffusionMeta(trained.weights, meta), history }
    }),
})
