// The one training loop (diffusion models, ControlNet, VAE, judge): seeded minibatch order, Adam with
// an lr schedule, optional global-norm clipping, an optional EMA of the trainable variables, a stop
// between steps when hooks.interrupted() turns true, a stop naming the step when the loss is not
// finite, and a loss curve of window means. What a step computes is the caller's `step` function.
// The loop awaits the event loop between steps, so Node's SIGINT listener (and progress timers) run
// during a long training; the native interrupt counter makes hooks.interrupted() exact besides.
// Failures are thrown as MlError (src/ml/errors.ts): "interrupted" or "non-finite".
// Every tensor a step creates is released after it (the step runs under tf.tidy; variables survive).
import * as tf from "@tensorflow/tfjs"
import type { MetricsTable } from "../../artifacts/types.ts"
import { MlError } from "../errors.ts"
import type { Model } from "../nn/model.ts"
import { Adam, Ema, type LearningRate, trainStep } from "../nn/optim.ts"
import { trainableOf, type Variables } from "../nn/params.ts"
import type { Rng } from "../random.ts"

export interface StepInfo {
  readonly step: number // 1-based over the whole run
  readonly total: number
  readonly epoch: number // 1-based
}

/**
 * How items are drawn into batches; both shuffle once per epoch.
 *   drop-last  floor(N / B) whole batches per epoch, permutations drawn one after another from `rng`
 *              (torch's drop_last=True; the diffusion trainers)
 *   keep-last  ceil(N / B) batches per epoch, the last one smaller; epoch e's permutation from
 *              rng.fork(`epoch-${e}`) (the VAE and judge trainers)
 */
export type Batching = "drop-last" | "keep-last"

export interface TrainLoopOptions {
  readonly count: number // items N
  readonly batchSize: number
  readonly steps: number
  readonly batching: Batching
  readonly rng: Rng // batch order only
  readonly lr: LearningRate
  /** Clip the global gradient norm to this (absent or 0: no clipping). */
  readonly clipNorm?: number
  /** Keep an EMA of the trainable variables with this target decay (warmed up, see emaDecayAt). */
  readonly emaDecay?: number
  /** One curve row (window means) every this many steps, and at the last step. */
  readonly logEvery: number
}

/** A step's loss (evaluated under the gradient tape) and any scalars it recorded while doing so. */
export interface StepLoss {
  readonly loss: () => tf.Scalar
  readonly metrics?: () => Readonly<Record<string, number>>
}

export interface TrainLoopHooks {
  /** After every step: its loss and metrics, and the smoothed loss. */
  readonly onStep?: (info: StepInfo, metrics: Readonly<Record<string, number>>) => void
  readonly interrupted?: () => boolean
}

export interface TrainLoopResult {
  /** Columns step, epoch, loss, <metrics...>, ema_loss: window means; ema_loss is the smoothed loss. */
  readonly curve: MetricsTable
  readonly finalLoss: number
  readonly finalSmoothLoss: number
  /** The EMA of the trainable variables (when emaDecay was given); the caller disposes it. */
  readonly ema?: Ema
}

/** Smoothing factor of the reported loss (as TensorBoard's 0.98 smoothing, debiased). */
const SMOOTH = 0.98

/** Batch size actually used: a set smaller than batchSize is one batch. */
export const effectiveBatch = (count: number, batchSize: number): number => Math.max(1, Math.min(batchSize, count))

/** Steps per epoch under a batching policy. */
export const batchesPerEpoch = (count: number, batchSize: number, batching: Batching = "drop-last"): number => {
  const B = effectiveBatch(count, batchSize)
  return batching === "drop-last" ? Math.max(1, Math.floor(count / B)) : Math.ceil(count / B)
}

/** The indices of every step, epoch by epoch, for a batching policy. */
export function* batchOrder(o: Pick<TrainLoopOptions, "count" | "batchSize" | "steps" | "batching" | "rng">): Generator<{ indices: Int32Array; info: StepInfo }> {
  const B = effectiveBatch(o.count, o.batchSize)
  const per = batchesPerEpoch(o.count, o.batchSize, o.batching)
  let perm: Int32Array = new Int32Array(0)
  for (let step = 1; step <= o.steps; step++) {
    const b = (step - 1) % per
    const epoch = Math.floor((step - 1) / per) + 1
    if (b === 0) perm = o.batching === "drop-last" ? o.rng.permutation(o.count) : o.rng.fork(`epoch-${epoch}`).permutation(o.count)
    yield { indices: perm.subarray(b * B, Math.min(o.count, (b + 1) * B)), info: { step, total: o.steps, epoch } }
  }
}

const yieldToEventLoop = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

/**
 * Trains the trainable variables of `model` (a frozen base stays bit-identical) for `o.steps` steps.
 * With emaDecay the result carries the EMA (the caller copies it into the model or saves it).
 */
export const trainLoop = async (
  model: Model, o: TrainLoopOptions, step: (indices: Int32Array, info: StepInfo) => StepLoss, hooks: TrainLoopHooks = {},
): Promise<TrainLoopResult> => {
  if (o.count < 1) throw new MlError("invalid-input", "the training set is empty")
  const trainable: Variables = trainableOf(model.variables)
  if (trainable.size === 0) throw new MlError("invalid-input", "the model has no trainable variables")
  const adam = new Adam({ lr: o.lr })
  const ema = o.emaDecay === undefined ? undefined : new Ema(trainable, o.emaDecay)
  const rows: number[][] = []
  let names: string[] = []
  let window: number[] = []
  let inWindow = 0
  let smooth = 0
  let loss = Number.NaN
  let smoothLoss = Number.NaN
  try {
    for (const { indices, info } of batchOrder(o)) {
      await yieldToEventLoop()
      if (hooks.interrupted?.() === true) throw new MlError("interrupted", `interrupted before step ${info.step}`)
      const metrics: Readonly<Record<string, number>> & { readonly loss: number } = tf.tidy(() => {
        const work = step(indices, info)
        const r = trainStep(model, work.loss, adam, o.clipNorm !== undefined && o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {})
        return { loss: r.loss, ...(work.metrics?.() ?? {}) }
      })
      loss = metrics.loss
      if (!Number.isFinite(loss)) throw new MlError("non-finite", `loss is ${loss} at step ${info.step} (epoch ${info.epoch}): ${JSON.stringify(metrics)}`)
      ema?.update(trainable, info.step)
      smooth = SMOOTH * smooth + (1 - SMOOTH) * loss
      smoothLoss = smooth / (1 - SMOOTH ** info.step)
      if (names.length === 0) {
        names = Object.keys(metrics)
        window = new Array<number>(names.length).fill(0)
      }
      names.forEach((n, i) => (window[i]! += metrics[n] ?? Number.NaN))
      inWindow++
      if (info.step % o.logEvery === 0 || info.step === o.steps) {
        rows.push([info.step, info.epoch, ...window.map((v) => v / inWindow), smoothLoss])
        window.fill(0)
        inWindow = 0
      }
      hooks.onStep?.(info, { ...metrics, ema_loss: smoothLoss })
    }
  } catch (e) {
    ema?.dispose()
    throw e
  } finally {
    adam.dispose()
  }
  return {
    curve: { columns: ["step", "epoch", ...names, "ema_loss"], rows },
    finalLoss: loss,
    finalSmoothLoss: smoothLoss,
    ...(ema === undefined ? {} : { ema }),
  }
}
