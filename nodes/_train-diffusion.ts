// What the two diffusion training kinds share: train-diffusion (pixel space, a U-Net) and
// train-latent-diffusion (latent space, the MLP). The params common to both, the diffusion process they
// describe, the training sets, the input checks, and the run body that calls trainDiffusion
// (src/ml/training/diffusion.ts) and builds the history and the weights' diffusion metadata. It imports
// neither architecture: each kind file passes its own `build`, so its code version holds only the
// network it trains (a U-Net edit does not retrain latent MLPs, an MLP edit does not retrain U-Nets).
// Determinism: the weights depend only on inputs and params (seed); `history` also holds the training
// time and throughput, which vary run to run.
import { type Static, Type } from "@sinclair/typebox"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import type { Dataset, Latents, Metrics, Tensor, Weights } from "../src/artifacts/types.ts"
import type { NodeContext, NodeError } from "../src/node.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import { toSignedUnit } from "../src/ml/data/pixels.ts"
import type { DiffusionMeta, DiffusionProcess, Space } from "../src/ml/diffusion-meta.ts"
import { withDiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { countParams, type Model } from "../src/ml/nn/model.ts"
import { type ReflowPairs, readReflowPairs } from "../src/ml/reflow.ts"
import { cosineDefaults, linearDefaults, type ScheduleConfig } from "../src/ml/schedules.ts"
import { batchesPerEpoch, effectiveBatch, trainDiffusion, type TrainingSet } from "../src/ml/training/diffusion.ts"
import { ml, mlAsync, reject, seconds, withModel } from "./_ml.ts"
import { trainingHistory } from "./_training-history.ts"

/** The kinds by space, for messages that point at the other one. */
export const kindOf: Readonly<Record<Space, string>> = { pixel: "train-diffusion", latent: "train-latent-diffusion" }

/** The process and class-conditioning params (both kinds; spread first, before the architecture's). */
export const processParams = {
  objective: Type.Union([Type.Literal("ddpm"), Type.Literal("rectified-flow")], {
    default: "ddpm",
    description: "ddpm: predict the noise ε (L_simple); rectified-flow: predict the velocity x1 - x0 of x_t = t·x1 + (1-t)·x0 (x0 noise, x1 data).",
  }),
  schedule: Type.Union([Type.Literal("linear"), Type.Literal("cosine")], {
    default: "linear",
    description: "ddpm noise schedule: linear betas 1e-4..0.02 (Ho et al.) or cosine (Nichol & Dhariwal, s = 0.008).",
  }),
  T: Type.Integer({ minimum: 2, maximum: 4000, default: 1000, description: "ddpm: diffusion timesteps." }),
  prediction: Type.Union([Type.Literal("eps"), Type.Literal("v")], {
    default: "eps",
    description: "ddpm: what the network predicts, the noise ε (Ho et al.) or v = √ᾱ·ε - √(1-ᾱ)·x0 (Salimans & Ho 2022); the weights record it and every ddpm sampler converts v to ε.",
  }),
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
}

/** The optimisation params (both kinds). */
export const trainingParams = {
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
}

const Common = Type.Object({ ...processParams, ...trainingParams })
/** The params every diffusion training kind has; a kind's own params extend these. */
export type CommonParams = Static<typeof Common>

const scheduleOf = (p: CommonParams): ScheduleConfig =>
  p.schedule === "linear" ? { ...linearDefaults, T: p.T } : { ...cosineDefaults, T: p.T }

export const processOf = (p: CommonParams): DiffusionProcess =>
  p.objective === "ddpm"
    ? { objective: "ddpm", schedule: scheduleOf(p), prediction: p.prediction }
    : { objective: "rectified-flow", tSampling: p.tSampling === "uniform" ? { kind: "uniform" } : { kind: "logit-normal", mean: p.tMean, std: p.tStd } }

/** Class ids of items as int32 (labels are stored as uint8). */
const labelGather = (labels: Uint8Array) => (idx: ArrayLike<number>): Int32Array => Int32Array.from(gatherRows(labels, 1, idx))

/** Images scaled to [-1, 1], the data range both objectives assume (DDPM sec. 3.3), with their labels. */
export const pixelSet = (d: Dataset, limit: number): TrainingSet => {
  const size = d.height * d.width * d.channels
  return {
    count: Math.min(d.count, limit),
    itemShape: [d.height, d.width, d.channels],
    rows: (idx) => toSignedUnit(gatherRows(d.images, size, idx)),
    labels: labelGather(d.labels),
  }
}

export const latentSet = (z: Latents, limit: number): TrainingSet => ({
  count: Math.min(z.count, limit),
  itemShape: [z.dim],
  rows: (idx) => gatherRows(z.values, z.dim, idx),
  ...(z.labels === null ? {} : { labels: labelGather(z.labels) }),
})

/** Reflow: items are the samples x1, each with the noise x0 it was generated from. */
export const pairsSet = (r: ReflowPairs, limit: number): TrainingSet => {
  const size = r.itemShape.reduce((a, b) => a * b, 1)
  const gather = (which: 0 | 1) => (idx: ArrayLike<number>): Float32Array =>
    gatherRows(r.data, size, Array.from(idx, (i) => 2 * i + which))
  return { count: Math.min(r.count, limit), itemShape: r.itemShape, rows: gather(1), noise: gather(0) }
}

/**
 * The training inputs of either kind: its own data port (`dataset` in pixel space, `latents` in latent
 * space) or reflow `pairs`. The other space's port is not declared by a kind (a pipeline connecting it
 * fails at load); the check below still names the right kind for callers that pass it anyway.
 */
export interface TrainInputs {
  readonly dataset?: Dataset | undefined
  readonly latents?: Latents | undefined
  readonly pairs?: Tensor | undefined
}

/** The input a kind trains on, by space. */
const dataPort: Readonly<Record<Space, "dataset" | "latents">> = { pixel: "dataset", latent: "latents" }

/** What is wrong with the inputs of a `space` kind (undefined: nothing). */
export const inputProblem = (space: Space, p: CommonParams, inputs: TrainInputs): string | undefined => {
  const own = dataPort[space]
  const other: Space = space === "pixel" ? "latent" : "pixel"
  if (inputs[dataPort[other]] !== undefined)
    return `${kindOf[space]} trains the ${space}-space model on \`${own}\`; to train on \`${dataPort[other]}\` use kind ${kindOf[other]}`
  if (p.prediction === "v" && p.objective !== "ddpm") return "prediction v is a ddpm parameterisation (objective ddpm); rectified-flow predicts its velocity x1 - x0 already"
  if (inputs[own] !== undefined && inputs.pairs !== undefined) return `connect exactly one of \`${own}\` and \`pairs\` (reflow), not both`
  if (inputs[own] === undefined && inputs.pairs === undefined) return `connect \`${own}\` (or reflow \`pairs\`)`
  if (inputs.pairs !== undefined) {
    if (p.objective !== "rectified-flow") return "`pairs` (reflow) trains a rectified flow: set objective: rectified-flow"
    if (p.conditioning !== "none") return "`pairs` (reflow) carry no labels: a reflowed model is unconditional (conditioning: none)"
    return undefined
  }
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

/** What a kind brings: its space and the network it builds for items of `itemShape` (throws MlError on a misfit). */
export interface DiffusionArchitecture<P extends CommonParams> {
  readonly space: Space
  readonly build: (p: P, itemShape: readonly number[]) => Model
}

/** The run of a diffusion training kind: checks, the training set, the model, the loop, then history and metadata. */
export const trainDiffusionRun = <P extends CommonParams>(arch: DiffusionArchitecture<P>) =>
  (inputs: TrainInputs, p: P, ctx: NodeContext): Effect.Effect<{ model: Weights; history: Metrics }, NodeError> =>
    Effect.gen(function* () {
      const problem = inputProblem(arch.space, p, inputs)
      if (problem !== undefined) return yield* reject(problem)
      const limit = p.limit ?? Number.MAX_SAFE_INTEGER
      const { dataset, latents } = inputs
      const pairs = inputs.pairs === undefined ? undefined : yield* ml("reading the reflow pairs", () => readReflowPairs(inputs.pairs!))
      if (pairs !== undefined && pairs.space !== arch.space)
        return yield* reject(`the reflow pairs are in ${pairs.space} space; train them with kind ${kindOf[pairs.space]}`)
      const set =
        dataset !== undefined ? pixelSet(dataset, limit)
        : latents !== undefined ? latentSet(latents, limit)
        : pairsSet(pairs!, limit)
      const latent = latents !== undefined ? { mean: Array.from(latents.mean), std: Array.from(latents.std) } : pairs?.latent
      const steps = p.steps ?? p.epochs * batchesPerEpoch(set.count, p.batchSize)
      const B = effectiveBatch(set.count, p.batchSize)
      const trained = yield* withModel("building the model", () => arch.build(p, set.itemShape), (model) => {
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
        space: arch.space,
        itemShape: set.itemShape,
        ...(p.objective === "ddpm" ? { schedule: scheduleOf(p) } : {}),
        ...(p.objective === "ddpm" && p.prediction === "v" ? { prediction: "v" as const } : {}),
        ...(latent !== undefined ? { latent } : {}),
        ...(p.conditioning === "none" ? {} : { numClasses: p.numClasses }),
      }
      const history = trainingHistory(trained, { count: set.count, batchSize: p.batchSize, batch: B, params: trained.nParams })
      return { model: withDiffusionMeta(trained.weights, meta), history }
    })
