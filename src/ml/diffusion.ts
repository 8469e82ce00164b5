// src/ml/diffusion.ts: the forward processes and training targets of DDPM and rectified flow.
// Notation (DDPM, Ho et al. 2020, arXiv:2006.11239): x_0 data in [-1, 1], t = 0..T-1, ᾱ_t (abar),
// ε ~ N(0, I). Rectified flow (Liu et al. 2022, arXiv:2209.03003), THIS project's convention:
//   x_t = t·x1 + (1 - t)·x0,  x0 ~ N(0, I) noise, x1 data, t ∈ [0, 1], target velocity v = x1 - x0,
// so sampling integrates dx/dt = v(x, t) from t = 0 (noise) to t = 1 (data). (SD3 and diffusers'
// flow-matching schedulers run the other way: there t = 1 is noise.)
// Shapes: batch first, any rank ([B, 28, 28, 1] NHWC images or [B, D] latents); t per example, [B].
// All randomness comes from the caller's Rng, drawn as Float32Array and wrapped as tensors.
import * as tf from "@tensorflow/tfjs"
import type { Rng } from "./random.ts"
import type { Schedule } from "./schedules.ts"

/** N(0, I) noise of the given shape, drawn from `rng` in row-major order. */
export const normalTensor = (rng: Rng, shape: readonly number[]): tf.Tensor =>
  tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)), [...shape], "float32")

/** Per-example scalars [B] as a tensor [B, 1, ..., 1] of the given rank, to broadcast over x. */
export const perExample = (values: ArrayLike<number>, rank: number): tf.Tensor =>
  tf.tensor(Float32Array.from(values), [values.length, ...new Array<number>(rank - 1).fill(1)], "float32")

const checkTimesteps = (schedule: Schedule, t: ArrayLike<number>, batch: number): void => {
  if (t.length !== batch) throw new RangeError(`${t.length} timesteps for a batch of ${batch}`)
  for (let i = 0; i < t.length; i++) {
    const ti = t[i]!
    if (!Number.isInteger(ti) || ti < 0 || ti >= schedule.T) throw new RangeError(`t[${i}] = ${ti}: timesteps are integers in [0, ${schedule.T})`)
  }
}

/** q(x_t | x_0): x_t = √ᾱ_t x_0 + √(1 - ᾱ_t) ε, eq. (4) of arXiv:2006.11239, with t per example. */
export const qSample = (schedule: Schedule, x0: tf.Tensor, t: ArrayLike<number>, eps: tf.Tensor): tf.Tensor => {
  checkTimesteps(schedule, t, x0.shape[0]!)
  const a = Array.from(t, (ti) => schedule.sqrtAbar[ti]!)
  const s = Array.from(t, (ti) => schedule.sqrtOneMinusAbar[ti]!)
  return tf.tidy(() => x0.mul(perExample(a, x0.rank)).add(eps.mul(perExample(s, x0.rank))))
}

/** One training example set: the model sees (xt, modelTime) and regresses `target`. Caller disposes xt and target. */
export interface TrainingBatch<TT extends Int32Array | Float32Array> {
  readonly xt: tf.Tensor
  readonly target: tf.Tensor
  readonly t: TT // process time: integer timestep (DDPM) or t ∈ [0, 1) (rectified flow)
  readonly modelTime: Float32Array // what the network's time embedding receives
}

/**
 * What a DDPM network predicts from x_t: the noise ε (Ho et al. 2020), or the velocity
 * v = √ᾱ_t ε - √(1 - ᾱ_t) x_0 (Salimans & Ho 2022, arXiv:2202.00512, sec. 4), whose scale stays
 * bounded at both ends of the schedule where ε-prediction's x̂_0 = (x_t - √(1 - ᾱ) ε) / √ᾱ blows up
 * as ᾱ -> 0. Samplers read ε: a v-model is converted by epsFromV, so every ddpm sampler takes both.
 */
export type Prediction = "eps" | "v"

/** v = √ᾱ_t ε - √(1 - ᾱ_t) x_0 with t per example (Salimans & Ho 2022, sec. 4). */
export const vTarget = (schedule: Schedule, x0: tf.Tensor, t: ArrayLike<number>, eps: tf.Tensor): tf.Tensor => {
  checkTimesteps(schedule, t, x0.shape[0]!)
  const a = Array.from(t, (ti) => schedule.sqrtAbar[ti]!)
  const s = Array.from(t, (ti) => schedule.sqrtOneMinusAbar[ti]!)
  return tf.tidy(() => eps.mul(perExample(a, x0.rank)).sub(x0.mul(perExample(s, x0.rank))))
}

/** ε = √(1 - ᾱ_t) x_t + √ᾱ_t v: the noise a v-prediction implies (substitute x_t = √ᾱ x_0 + √(1 - ᾱ) ε). */
export const epsFromV = (x: tf.Tensor, v: tf.Tensor, abarT: number): tf.Tensor =>
  tf.tidy(() => x.mul(Math.sqrt(1 - abarT)).add(v.mul(Math.sqrt(abarT))))

/**
 * DDPM's simple objective (Algorithm 1, eq. 14 of arXiv:2006.11239): t ~ U{0..T-1}, ε ~ N(0, I),
 * the model predicts ε (or v, see Prediction) from x_t. Draws all t first, then ε, from `rng`, the same
 * draws for either target. The model time is t itself.
 */
export const ddpmTrainingBatch = (schedule: Schedule, x0: tf.Tensor, rng: Rng, prediction: Prediction = "eps"): TrainingBatch<Int32Array> => {
  const B = x0.shape[0]!
  const t = new Int32Array(B)
  for (let i = 0; i < B; i++) t[i] = rng.int(schedule.T)
  const eps = normalTensor(rng, x0.shape)
  const xt = qSample(schedule, x0, t, eps)
  if (prediction === "eps") return { xt, target: eps, t, modelTime: Float32Array.from(t) }
  const target = vTarget(schedule, x0, t, eps)
  eps.dispose()
  return { xt, target, t, modelTime: Float32Array.from(t) }
}

/**
 * Rectified-flow time → network time input. We scale by 1000 (as SD3 / diffusers' flow-matching
 * schedulers do) so the sinusoidal embedding sees the same range it sees in DDPM (t ≈ 0..1000),
 * and one U-Net config serves both objectives. Sampling never evaluates t = 1, so inputs stay < 1000.
 */
export const RF_TIME_SCALE = 1000
export const rfModelTime = (t: number): number => t * RF_TIME_SCALE

/** x_t = t·x1 + (1 - t)·x0 with t per example (x0 noise, x1 data): eq. (1) of arXiv:2209.03003. */
export const rfInterpolate = (x0: tf.Tensor, x1: tf.Tensor, t: ArrayLike<number>): tf.Tensor =>
  tf.tidy(() => {
    const tt = perExample(t, x1.rank)
    return x1.mul(tt).add(x0.mul(tf.scalar(1).sub(tt)))
  })

/** d x_t / dt = x1 - x0: the regression target of rectified flow. */
export const rfVelocityTarget = (x0: tf.Tensor, x1: tf.Tensor): tf.Tensor => x1.sub(x0)

/**
 * Training-time distribution of t. "logit-normal": t = sigmoid(m + s·z), z ~ N(0, 1), which puts more
 * weight on intermediate t (Esser et al. 2024, arXiv:2403.03206, sec. 3.1, π_ln(t; m, s)).
 */
export type RfTimeDistribution =
  | { readonly kind: "uniform" }
  | { readonly kind: "logit-normal"; readonly mean: number; readonly std: number }

export const sampleRfTimes = (dist: RfTimeDistribution, n: number, rng: Rng): Float32Array => {
  if (dist.kind === "uniform") return rng.uniforms(n)
  const out = new Float32Array(n)
  for (let i = 0; i < n; i++) out[i] = 1 / (1 + Math.exp(-(dist.mean + dist.std * rng.normal())))
  return out
}

/**
 * A rectified-flow batch for data x1: t from `dist`, then x0 ~ N(0, I) from `rng`, unless `x0` is given
 * (reflow, sec. 2.3 of arXiv:2209.03003, pairs each x0 with the sample the previous flow generated from it).
 */
export const rfTrainingBatch = (x1: tf.Tensor, dist: RfTimeDistribution, rng: Rng, x0?: tf.Tensor): TrainingBatch<Float32Array> => {
  const t = sampleRfTimes(dist, x1.shape[0]!, rng)
  const noise = x0 ?? normalTensor(rng, x1.shape)
  const xt = rfInterpolate(noise, x1, t)
  const target = rfVelocityTarget(noise, x1)
  if (x0 === undefined) noise.dispose()
  return { xt, target, t, modelTime: t.map(rfModelTime) }
}

/** x̂_0 = (x_t - √(1 - ᾱ_t) ε) / √ᾱ_t: eq. (15) of arXiv:2006.11239, "predicted x0" of eq. (12), arXiv:2010.02502. */
export const predictX0 = (x: tf.Tensor, eps: tf.Tensor, abarT: number): tf.Tensor =>
  tf.tidy(() => x.sub(eps.mul(Math.sqrt(1 - abarT))).div(Math.sqrt(abarT)))
