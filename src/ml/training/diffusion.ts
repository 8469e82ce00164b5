// src/ml/training/diffusion.ts: the diffusion training loop, for both objectives pipe trains.
//   ddpm            ε-prediction, L_simple = E ||ε - ε_θ(x_t, t)||², t ~ U{0..T-1}
//                   (Ho et al. 2020, arXiv:2006.11239, Algorithm 1 / eq. 14)
//   rectified-flow  velocity regression, L = E ||(x1 - x0) - v_θ(x_t, t)||², x_t = t·x1 + (1 - t)·x0,
//                   x0 ~ N(0, I) noise, x1 data (Liu et al. 2022, arXiv:2209.03003, eq. 1; pipe's
//                   convention, see src/ml/diffusion.ts), t ~ uniform or logit-normal
// Around the loss: Adam with linear warm-up, clip-by-global-norm, an EMA of the weights (the EMA is what
// is saved and sampled from) and a non-finite-loss check after every step.
// Shapes: a training set is `count` items of `itemShape` ([28, 28, 1] NHWC images in [-1, 1], or [D]
// standardised latents); batches are [B, ...itemShape].
// The loop is deterministic for a seed on a given backend: data order, t, noise and dropout masks each
// draw from their own fork of one Rng. The clock (for throughput) comes in as a hook.
import * as tf from "@tensorflow/tfjs"
import type { Weights } from "../../artifacts/types.ts"
import { ddpmTrainingBatch, type RfTimeDistribution, rfTrainingBatch, type TrainingBatch } from "../diffusion.ts"
import { Adam, Ema, linearWarmup, type Model, modelToWeights, trainStep } from "../nn/index.ts"
import { Rng } from "../random.ts"
import { makeSchedule, type ScheduleConfig } from "../schedules.ts"

export type Objective = "ddpm" | "rectified-flow"
export type Space = "pixel" | "latent"

/** What the network is trained to predict, and from which forward process. */
export type DiffusionProcess =
  | { readonly objective: "ddpm"; readonly schedule: ScheduleConfig }
  | { readonly objective: "rectified-flow"; readonly tSampling: RfTimeDistribution }

/**
 * Everything a sampler needs to know about a trained model besides its architecture; stored in the
 * Weights config under `diffusion` (architecture decoders ignore unknown keys).
 * `latent` carries the training latents' per-dimension mean/std so samples can be un-standardised.
 */
export interface DiffusionMeta {
  readonly objective: Objective
  readonly space: Space
  /** Shape of one item: [H, W, C] for pixels, [D] for latents. */
  readonly itemShape: readonly number[]
  /** The noise schedule (ddpm only). */
  readonly schedule?: ScheduleConfig
  readonly latent?: { readonly mean: readonly number[]; readonly std: readonly number[] }
}

export interface TrainOptions {
  readonly process: DiffusionProcess
  /** Optimizer steps in total. */
  readonly steps: number
  readonly batchSize: number
  readonly lr: number
  /** lr ramps linearly over this many steps (0: none). */
  readonly warmupSteps: number
  /** After warm-up: constant, or cosine decay to 0 at the last step. */
  readonly lrDecay: LrDecay
  /** Global gradient-norm clip (0: no clipping). */
  readonly clipNorm: number
  /** Target EMA decay; early steps use less (see emaDecayAt). */
  readonly emaDecay: number
  readonly seed: number
}

/** A training set: `count` items of `itemShape`; `rows` gathers items by index into one flat array. */
export interface TrainingSet {
  readonly count: number
  readonly itemShape: readonly number[]
  readonly rows: (indices: ArrayLike<number>) => Float32Array
  /**
   * Reflow (Liu et al. 2022, sec. 2.3): the noise x0 each item was generated from, gathered like `rows`.
   * Rectified flow then trains on these fixed (x0, x1) couplings instead of fresh independent noise.
   */
  readonly noise?: (indices: ArrayLike<number>) => Float32Array
}

export interface StepReport {
  readonly step: number // 1-based
  readonly total: number
  readonly epoch: number // 1-based
  readonly loss: number
  /** Exponentially smoothed, bias-corrected loss (the curve to read; the raw loss is noisy per batch). */
  readonly smoothLoss: number
  readonly lr: number
}

export interface TrainHooks {
  readonly onStep?: (r: StepReport) => void
  /** Checked before every step; true stops the loop (nothing is returned for caching). */
  readonly interrupted?: () => boolean
  /** Seconds on some monotonic clock; only used for the throughput numbers. */
  readonly now?: () => number
}

export interface TrainHistory {
  /** [step, loss, smoothed loss] rows, every `every` steps and at the last step. */
  readonly rows: readonly (readonly [number, number, number])[]
  readonly every: number
}

export type TrainOutcome =
  | {
      readonly ok: true
      /** The EMA weights with the model's config. */
      readonly weights: Weights
      readonly history: TrainHistory
      readonly finalLoss: number
      readonly finalSmoothLoss: number
      readonly steps: number
      readonly seconds: number
      readonly imagesPerSec: number
    }
  | { readonly ok: false; readonly reason: "non-finite"; readonly step: number; readonly loss: number }
  | { readonly ok: false; readonly reason: "interrupted"; readonly step: number }

/** Smoothing factor of the reported loss curve (as TensorBoard's 0.98 smoothing, debiased). */
const SMOOTH = 0.98
/** The stored loss curve keeps about this many rows whatever the run length. */
const HISTORY_ROWS = 500

/**
 * EMA decay at a 1-based step: min(decay, (1 + step) / (10 + step)), the warm-up of TF's
 * ExponentialMovingAverage(num_updates) and diffusers' EMAModel. Without it a short run's EMA would
 * still be mostly the random init (0.999^1000 ≈ 0.37 of it after 1000 steps).
 */
export const emaDecayAt = (step: number, decay: number): number => Math.min(decay, (1 + step) / (10 + step))

/** Batch size actually used: a set smaller than batchSize is one batch. */
export const effectiveBatch = (count: number, batchSize: number): number => Math.max(1, Math.min(batchSize, count))

export type LrDecay = "constant" | "cosine"

/**
 * The learning rate at 1-based step `step`: linear warm-up over `warmupSteps`, then `lr` (constant) or
 * lr·(1 + cos(π·p))/2 with p = (step - warmupSteps)/(steps - warmupSteps) (cosine: lr at the end of the
 * warm-up, 0 at the last step; the shape of diffusers' get_cosine_schedule_with_warmup). A short budget
 * ends on small steps instead of on the noise floor of a constant lr.
 */
export const learningRateSchedule = (o: Pick<TrainOptions, "lr" | "warmupSteps" | "lrDecay" | "steps">) => {
  const decayed = (step: number): number => {
    if (o.lrDecay === "constant") return o.lr
    const span = o.steps - o.warmupSteps
    const progress = span <= 0 ? 1 : Math.min(1, Math.max(0, (step - o.warmupSteps) / span))
    return (o.lr * (1 + Math.cos(Math.PI * progress))) / 2
  }
  return o.warmupSteps > 0 ? linearWarmup(o.lr, o.warmupSteps, decayed) : decayed
}

/** Whole batches per epoch (the ragged tail of each shuffled epoch is dropped, as drop_last=True). */
export const batchesPerEpoch = (count: number, batchSize: number): number =>
  Math.max(1, Math.floor(count / effectiveBatch(count, batchSize)))

/** shadow <- d·shadow + (1 - d)·w for every variable, with this step's d. */
const emaUpdate = (ema: Ema, model: Model, decay: number): void => {
  const shadow = ema.variables()
  tf.tidy(() => {
    for (const [name, v] of model.variables) {
      const s = shadow.get(name)
      if (s !== undefined) s.assign(s.mul(decay).add(v.mul(1 - decay)))
    }
  })
}

type BatchMaker = (data: tf.Tensor, pairedNoise: tf.Tensor | undefined) => TrainingBatch<Int32Array | Float32Array>

/** (x_t, target, t) for a data batch: t then noise drawn from `rng` (see src/ml/diffusion.ts). */
const batchMaker = (p: DiffusionProcess, rng: Rng): BatchMaker => {
  if (p.objective === "rectified-flow") return (x1, x0) => rfTrainingBatch(x1, p.tSampling, rng, x0)
  const schedule = makeSchedule(p.schedule)
  return (x0) => ddpmTrainingBatch(schedule, x0, rng)
}

/** Mean squared error of the network output against the batch target: the loss of both objectives. */
const mseLoss = (model: Model, batch: TrainingBatch<Int32Array | Float32Array>, tIn: tf.Tensor1D, dropoutRng: Rng): tf.Scalar =>
  tf.tidy(() => model.apply(batch.xt, tIn, { training: true, rng: dropoutRng }).sub(batch.target).square().mean() as tf.Scalar)

/**
 * Trains `model` in place for `o.steps` steps and returns its EMA weights. The model ends holding the
 * EMA weights; the caller disposes it. Leaves no other tensors behind.
 */
export const trainDiffusion = (model: Model, set: TrainingSet, o: TrainOptions, hooks: TrainHooks = {}): TrainOutcome => {
  if (set.count < 1) throw new RangeError("trainDiffusion: empty training set")
  if (set.noise !== undefined && o.process.objective !== "rectified-flow") throw new RangeError("trainDiffusion: paired noise (reflow) needs objective rectified-flow")
  const B = effectiveBatch(set.count, o.batchSize)
  const perEpoch = batchesPerEpoch(set.count, o.batchSize)
  const rng = new Rng(o.seed)
  const orderRng = rng.fork("train/order")
  const makeBatch = batchMaker(o.process, rng.fork("train/noise"))
  const dropoutRng = rng.fork("train/dropout")
  const adam = new Adam({ lr: learningRateSchedule(o) })
  const ema = new Ema(model.variables, o.emaDecay)
  const every = Math.max(1, Math.ceil(o.steps / HISTORY_ROWS))
  const rows: [number, number, number][] = []
  const now = hooks.now ?? (() => 0)
  const start = now()
  let perm: Int32Array = new Int32Array(0)
  let smooth = 0
  let loss = Number.NaN
  let smoothLoss = Number.NaN
  try {
    for (let step = 1; step <= o.steps; step++) {
      if (hooks.interrupted?.() === true) return { ok: false, reason: "interrupted", step }
      const b = (step - 1) % perEpoch
      const epoch = Math.floor((step - 1) / perEpoch) + 1
      if (b === 0) perm = orderRng.permutation(set.count)
      const idx = perm.subarray(b * B, (b + 1) * B)
      const data = tf.tensor(set.rows(idx), [B, ...set.itemShape], "float32")
      const paired = set.noise === undefined ? undefined : tf.tensor(set.noise(idx), [B, ...set.itemShape], "float32")
      const batch = makeBatch(data, paired)
      const tIn = tf.tensor1d(batch.modelTime, "float32")
      const result = trainStep(model, (m) => mseLoss(m, batch, tIn, dropoutRng), adam, o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {})
      tf.dispose([data, batch.xt, batch.target, tIn, ...(paired === undefined ? [] : [paired])])
      loss = result.loss
      if (!Number.isFinite(loss)) return { ok: false, reason: "non-finite", step, loss }
      emaUpdate(ema, model, emaDecayAt(step, o.emaDecay))
      smooth = SMOOTH * smooth + (1 - SMOOTH) * loss
      smoothLoss = smooth / (1 - SMOOTH ** step)
      if (step % every === 0 || step === o.steps) rows.push([step, loss, smoothLoss])
      hooks.onStep?.({ step, total: o.steps, epoch, loss, smoothLoss, lr: adam.learningRate(step) })
    }
    ema.copyTo(model)
    const seconds = now() - start
    return {
      ok: true,
      weights: modelToWeights(model),
      history: { rows, every },
      finalLoss: loss,
      finalSmoothLoss: smoothLoss,
      steps: o.steps,
      seconds,
      imagesPerSec: seconds > 0 ? (o.steps * B) / seconds : 0,
    }
  } finally {
    adam.dispose()
    ema.dispose()
  }
}

// ---- The diffusion metadata inside a Weights artifact --------------------------------------------

/** The weights with `meta` recorded under config.diffusion (JSON: plain numbers and arrays). */
export const withDiffusionMeta = (w: Weights, meta: DiffusionMeta): Weights => ({
  ...w,
  config: { ...w.config, diffusion: JSON.parse(JSON.stringify(meta)) as unknown },
})

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
const isNumArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === "number")

const decodeSchedule = (v: unknown): ScheduleConfig | string => {
  if (!isObj(v) || typeof v.T !== "number") return "schedule must be an object with T"
  if (v.kind === "linear" && typeof v.betaStart === "number" && typeof v.betaEnd === "number")
    return { kind: "linear", T: v.T, betaStart: v.betaStart, betaEnd: v.betaEnd }
  if (v.kind === "cosine" && typeof v.s === "number" && typeof v.maxBeta === "number")
    return { kind: "cosine", T: v.T, s: v.s, maxBeta: v.maxBeta }
  return `unknown schedule ${JSON.stringify(v)}`
}

/** Reads config.diffusion back; a string explains what is missing (e.g. weights of a VAE). */
export const readDiffusionMeta = (w: Weights): DiffusionMeta | string => {
  const d = w.config.diffusion
  if (!isObj(d)) return `weights of architecture "${w.architecture}" carry no diffusion metadata (were they produced by train-diffusion?)`
  if (d.objective !== "ddpm" && d.objective !== "rectified-flow") return `unknown objective ${JSON.stringify(d.objective)}`
  if (d.space !== "pixel" && d.space !== "latent") return `unknown space ${JSON.stringify(d.space)}`
  if (!isNumArray(d.itemShape) || d.itemShape.length === 0) return "itemShape missing"
  const objective: Objective = d.objective
  const space: Space = d.space
  const base = { objective, space, itemShape: d.itemShape }
  let schedule: ScheduleConfig | undefined
  if (d.objective === "ddpm") {
    const s = decodeSchedule(d.schedule)
    if (typeof s === "string") return s
    schedule = s
  }
  let latent: DiffusionMeta["latent"]
  if (d.space === "latent") {
    const l = d.latent
    const dim = d.itemShape[0]
    if (!isObj(l) || !isNumArray(l.mean) || !isNumArray(l.std) || l.mean.length !== dim || l.std.length !== dim)
      return `latent model lacks the latents' mean/std of length ${dim}`
    latent = { mean: l.mean, std: l.std }
  }
  return { ...base, ...(schedule === undefined ? {} : { schedule }), ...(latent === undefined ? {} : { latent }) }
}
