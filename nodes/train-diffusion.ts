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
import { defineNode, NodeError, optional } from "../src/node.ts"
import { DatasetType, LatentsType, MetricsType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import type { Dataset, Latents, Metrics, Tensor } from "../src/artifacts/types.ts"
import {
  countParams, createLatentMlp, createUNet, disposeModel, type Model, referenceMlpConfig, referenceUNetConfig,
} from "../src/ml/nn/index.ts"
import { type ReflowPairs, readReflowPairs } from "../src/ml/reflow.ts"
import { cosineDefaults, linearDefaults, type ScheduleConfig } from "../src/ml/schedules.ts"
import {
  batchesPerEpoch, type DiffusionMeta, type DiffusionProcess, effectiveBatch, trainDiffusion, type TrainingSet, withDiffusionMeta,
} from "../src/ml/training/diffusion.ts"

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
  seed: Type.Integer({ default: 0, description: "Seeds init, data order, t, noise and dropout." }),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: "Train on the first `limit` items only." })),
  // pixel space: U-Net (defaults = the reference U-Net, the benchmarked model)
  baseChannels: Type.Integer({ minimum: 1, default: u.baseChannels, description: "U-Net channels at full resolution (multiple of 8: GroupNorm(8))." }),
  channelMults: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [...u.channelMults], description: "U-Net channel multiplier per level; resolution halves between levels." }),
  resBlocksPerLevel: Type.Integer({ minimum: 1, default: u.resBlocksPerLevel }),
  attentionResolutions: Type.Array(Type.Integer({ minimum: 1 }), { default: [...u.attentionResolutions], description: "Spatial sizes (e.g. 7) with self-attention." }),
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

/** Images scaled to [-1, 1], the data range both objectives assume (DDPM sec. 3.3). */
const pixelSet = (d: Dataset, limit: number): TrainingSet => {
  const size = d.height * d.width * d.channels
  return {
    count: Math.min(d.count, limit),
    itemShape: [d.height, d.width, d.channels],
    rows: (idx) => {
      const out = new Float32Array(idx.length * size)
      for (let k = 0; k < idx.length; k++) {
        const src = idx[k]! * size
        for (let j = 0; j < size; j++) out[k * size + j] = d.images[src + j]! / 127.5 - 1
      }
      return out
    },
  }
}

const latentSet = (z: Latents, limit: number): TrainingSet => ({
  count: Math.min(z.count, limit),
  itemShape: [z.dim],
  rows: (idx) => {
    const out = new Float32Array(idx.length * z.dim)
    for (let k = 0; k < idx.length; k++) out.set(z.values.subarray(idx[k]! * z.dim, (idx[k]! + 1) * z.dim), k * z.dim)
    return out
  },
})

/** Reflow: items are the samples x1, each with the noise x0 it was generated from. */
const pairsSet = (r: ReflowPairs, limit: number): TrainingSet => {
  const size = r.itemShape.reduce((a, b) => a * b, 1)
  const gather = (which: 0 | 1) => (idx: ArrayLike<number>): Float32Array => {
    const out = new Float32Array(idx.length * size)
    for (let k = 0; k < idx.length; k++) out.set(r.data.subarray((2 * idx[k]! + which) * size, (2 * idx[k]! + which + 1) * size), k * size)
    return out
  }
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

/** A U-Net for items [H, W, C] (pixel space) or an MLP for items [D] (latent space). */
const buildModel = (p: P, itemShape: readonly number[]): Model | string => {
  if (p.space === "pixel") {
    if (itemShape.length !== 3) return `space pixel needs images [H, W, C], got items of shape [${itemShape}]`
    const [height, , channels] = itemShape as [number, number, number]
    const problem = unetProblem(p, itemShape)
    if (problem !== undefined) return problem
    return createUNet(
      {
        inChannels: channels, outChannels: channels, baseChannels: p.baseChannels, channelMults: p.channelMults,
        resBlocksPerLevel: p.resBlocksPerLevel, attentionResolutions: p.attentionResolutions, dropout: p.dropout,
        timeEmbedDim: p.timeEmbedDim ?? u.timeEmbedDim, imageSize: height,
      },
      p.seed,
    )
  }
  if (itemShape.length !== 1) return `space latent needs vectors [D], got items of shape [${itemShape}]`
  return createLatentMlp(
    { inDim: itemShape[0]!, timeEmbedDim: p.timeEmbedDim ?? referenceMlpConfig.timeEmbedDim, hidden: new Array<number>(p.mlpDepth).fill(p.mlpWidth) },
    p.seed,
  )
}

const inputProblem = (p: P, inputs: { dataset?: Dataset; latents?: Latents; pairs?: Tensor }): string | undefined => {
  const given = (["dataset", "latents", "pairs"] as const).filter((k) => inputs[k] !== undefined)
  if (given.length > 1) return `connect exactly one of \`dataset\` (space pixel), \`latents\` (space latent) and \`pairs\` (reflow), not ${given.join(" and ")}`
  if (given.length === 0) return `connect \`${p.space === "pixel" ? "dataset" : "latents"}\` (space ${p.space})`
  if (inputs.pairs !== undefined) {
    if (p.objective !== "rectified-flow") return "`pairs` (reflow) trains a rectified flow: set objective: rectified-flow"
    return undefined
  }
  if (p.space === "pixel" && inputs.latents !== undefined) return "space pixel trains on images: connect `dataset`, or set space: latent to train on `latents`"
  if (p.space === "latent" && inputs.dataset !== undefined) return "space latent trains on latents: connect `latents`, or set space: pixel to train on `dataset`"
  const count = inputs.dataset?.count ?? inputs.latents?.count ?? 0
  return count < 1 ? "the training input is empty" : undefined
}

const seconds = (): number => performance.now() / 1000

export default defineNode({
  kind: "train-diffusion",
  description: "Trains a DDPM (ε) or rectified-flow (velocity) model on images (U-Net) or VAE latents (MLP); outputs EMA weights and the loss curve.",
  params: Params,
  inputs: { dataset: optional(DatasetType), latents: optional(LatentsType), pairs: optional(TensorType) },
  outputs: { model: WeightsType, history: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const problem = inputProblem(p, inputs)
      if (problem !== undefined) return yield* Effect.fail(new NodeError(problem))
      const limit = p.limit ?? Number.MAX_SAFE_INTEGER
      const { dataset, latents } = inputs
      const pairs = inputs.pairs === undefined ? undefined : readReflowPairs(inputs.pairs)
      if (typeof pairs === "string") return yield* Effect.fail(new NodeError(pairs))
      if (pairs !== undefined && pairs.space !== p.space)
        return yield* Effect.fail(new NodeError(`the reflow pairs are in ${pairs.space} space; set space: ${pairs.space}`))
      const set =
        dataset !== undefined ? pixelSet(dataset, limit)
        : latents !== undefined ? latentSet(latents, limit)
        : pairs !== undefined ? pairsSet(pairs, limit)
        : undefined
      if (set === undefined) return yield* Effect.fail(new NodeError("no training input"))
      const latent = latents !== undefined ? { mean: Array.from(latents.mean), std: Array.from(latents.std) } : pairs?.latent
      const steps = p.steps ?? p.epochs * batchesPerEpoch(set.count, p.batchSize)
      const built = yield* Effect.try({ try: () => buildModel(p, set.itemShape), catch: (e) => new NodeError(`building the model: ${String(e)}`, { cause: e }) })
      if (typeof built === "string") return yield* Effect.fail(new NodeError(built))
      const model = built
      const B = effectiveBatch(set.count, p.batchSize)
      const nParams = countParams(model)
      ctx.log(`${model.architecture} (${nParams.toLocaleString("en")} params), ${set.count} items, batch ${B}, ${steps} steps, backend ${tf.getBackend()}`)
      const outcome = yield* Effect.try({
        try: () =>
          trainDiffusion(
            model,
            set,
            { process: processOf(p), steps, batchSize: p.batchSize, lr: p.lr, warmupSteps: p.warmupSteps, lrDecay: p.lrDecay, clipNorm: p.clipNorm, emaDecay: p.emaDecay, seed: p.seed },
            {
              now: seconds,
              interrupted: ctx.interrupted,
              // The progress display computes it/s and ETA itself.
              onStep: (r) => ctx.progress({ phase: "train", step: r.step, total: r.total, epoch: r.epoch, metrics: { loss: r.smoothLoss } }),
            },
          ),
        catch: (e) => new NodeError(`training failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
      }).pipe(Effect.ensuring(Effect.sync(() => disposeModel(model))))
      if (!outcome.ok)
        return yield* Effect.fail(
          new NodeError(outcome.reason === "interrupted" ? `interrupted before step ${outcome.step}` : `loss is ${outcome.loss} at step ${outcome.step}; try a lower lr or a clipNorm`),
        )
      const meta: DiffusionMeta = {
        objective: p.objective,
        space: p.space,
        itemShape: set.itemShape,
        ...(p.objective === "ddpm" ? { schedule: scheduleOf(p) } : {}),
        ...(latent !== undefined ? { latent } : {}),
      }
      const history: Metrics = {
        scalars: {
          final_loss: outcome.finalLoss,
          final_ema_loss: outcome.finalSmoothLoss,
          steps: outcome.steps,
          epochs: outcome.steps / batchesPerEpoch(set.count, p.batchSize),
          batch_size: B,
          params: nParams,
          seconds: outcome.seconds,
          images_per_sec: outcome.imagesPerSec,
        },
        tables: { loss: { columns: ["step", "loss", "ema_loss"], rows: outcome.history.rows } },
      }
      return { model: withDiffusionMeta(outcome.weights, meta), history }
    }),
})
