// src/ml/sampling/deepcache.ts: DeepCache (Ma, Fang, Wang, "DeepCache: Accelerating Diffusion Models for
// Free", CVPR 2024, arXiv:2312.00858). Adjacent sampling steps change a U-Net's high-level features
// little, so on a *full* step the wrapper runs the whole network and keeps the feature entering decoder
// stage `branch` (sec. 3.2: the skip branch m); on the steps up to the next full step it runs only the
// shallow path (encoder stages 0..branch, the cached feature, decoder stages branch..0): sec. 3.2, eq. (5).
// Branch 0 (the shallowest skip) skips the most computation; the paper's Table 5 / Fig. 5 show it as the
// best speed-quality trade-off at a given N.
// Notation: steps = the sampler's step count, N = `interval` (1:N = one full step per N steps), plan =
// the 0-based indices of the full steps. Which steps are full is a pure function of (steps, N, schedule,
// center, power): fullStepPlan.
//   uniform      every N-th step: {0, N, 2N, ...} (sec. 3.3, "uniform 1:N")
//   non-uniform  sec. 3.3, "non-uniform 1:N": k = ceil(steps / N) full steps, denser around step `center`
//                where the features change fastest (Fig. 3 of the paper):
//                  L = linear_space((-c)^(1/p), (steps - c)^(1/p), k + 1)
//                  I = {0} u { int(l^p) + c : l in L }, the unique values without the least and greatest
//                with c = center, p = power; when I has fewer than k entries (rounding merged two), p is
//                lowered by 0.02 until it has k (p <= 1 is an error). As in the reference code
//                (horseee/DeepCache, `sample_from_quad_center`), powers of negative numbers take the
//                principal complex branch and int() keeps the real part, truncated toward zero; with
//                center > steps the full steps bunch towards the end instead. Defaults center 15, power
//                1.4: the reference's example (stable_diffusion.py, 50 steps). N = 1 makes every step full.
// All model evaluations within a full step are full (rf-midpoint's two), so N = 1 computes exactly
// what the uncached sampler computes. The cache lives for one batch of one sampling call: the factory
// builds a fresh wrapper per batch and disposes it after the batch (src/ml/sampling/generate.ts).
import * as tf from "@tensorflow/tfjs"
import { invalidInput } from "../errors.ts"
import type { ModelFn } from "../samplers/loop.ts"
import { timeInput, type UNetRunner } from "./unet-runner.ts"

export const cacheSchedules = ["uniform", "non-uniform"] as const
export type CacheSchedule = (typeof cacheSchedules)[number]

export interface DeepCacheConfig {
  /** N of 1:N: one full step, then up to N - 1 shallow steps (>= 1). */
  readonly interval: number
  /** Skip branch whose deep feature is cached: 0 (shallowest) .. branches - 1. */
  readonly branch: number
  readonly schedule: CacheSchedule
  /** non-uniform: the step index the full steps crowd around. */
  readonly center: number
  /** non-uniform: the exponent that makes them crowd (> 1; lowered by 0.02 until k distinct steps fit). */
  readonly power: number
}

export const deepCacheDefaults = { branch: 0, schedule: "uniform", center: 15, power: 1.4 } as const satisfies Omit<DeepCacheConfig, "interval">

export interface FullStepPlan {
  readonly steps: number
  /** Indices of the full steps, increasing; always starts with 0. */
  readonly full: readonly number[]
  /** non-uniform: the power that gave k distinct steps (<= config.power); null for uniform. */
  readonly power: number | null
}

/** Checks a config against the U-Net it will wrap; throws MlError "invalid-input". */
export const checkDeepCache = (c: DeepCacheConfig, branches: number): void => {
  if (!(Number.isInteger(c.interval) && c.interval >= 1)) throw invalidInput(`deepcache interval must be an integer >= 1, got ${c.interval}`)
  if (!(Number.isInteger(c.branch) && c.branch >= 0 && c.branch < branches))
    throw invalidInput(`deepcache branch ${c.branch} does not exist: this U-Net has branches 0..${branches - 1} (its skip connections, 0 = shallowest)`)
  if (!(Number.isInteger(c.center) && c.center >= 0)) throw invalidInput(`deepcache center must be an integer step index >= 0, got ${c.center}`)
  if (!(c.power > 1)) throw invalidInput(`deepcache power must be > 1, got ${c.power}`)
}

// ---- non-uniform 1:N (complex arithmetic as the reference's Python/NumPy computes it) ---------------
interface Complex {
  readonly re: number
  readonly im: number
}

/** Python's `x ** e` for a real x and a real, non-integer e: the principal complex branch for x < 0. */
const realPow = (x: number, e: number): Complex => {
  if (x >= 0) return { re: x ** e, im: 0 }
  const len = (-x) ** e
  const phase = Math.PI * e // atan2(0, x) = pi for x < 0
  return { re: len * Math.cos(phase), im: len * Math.sin(phase) }
}

const cmul = (a: Complex, b: Complex): Complex => ({ re: a.re * b.re - a.im * b.im, im: a.re * b.im + a.im * b.re })

/**
 * The real part of NumPy's z ** e for a real e > 1: repeated complex products for an integer e (as
 * npy_cpow does), else exp(e log|z|) cos(e arg z) (the principal branch, as C's cpow).
 */
const powRe = (z: Complex, e: number): number => {
  if (z.im === 0 && z.re >= 0) return z.re ** e
  if (Number.isInteger(e) && e < 100) {
    let acc: Complex = { re: 1, im: 0 }
    for (let sq = z, n = e; n > 0; n >>= 1) {
      if ((n & 1) === 1) acc = cmul(acc, sq) // exact for acc = 1
      if (n > 1) sq = cmul(sq, sq)
    }
    return acc.re
  }
  return Math.exp(e * Math.log(Math.hypot(z.re, z.im))) * Math.cos(e * Math.atan2(z.im, z.re))
}

/** NumPy's linspace(a, b, n + 1) (a + i (b - a) / n, the last point exactly b). */
const linspace = (a: Complex, b: Complex, n: number): Complex[] => {
  const complex = a.im !== 0 || b.im !== 0
  // NumPy divides a complex by n as multiplication by 1 / n (Smith's algorithm), a real by n directly.
  const sr = complex ? (b.re - a.re) * (1 / n) : (b.re - a.re) / n
  const si = complex ? (b.im - a.im) * (1 / n) : 0
  return Array.from({ length: n + 1 }, (_, i) => (i === n ? b : { re: i * sr + a.re, im: i * si + a.im }))
}

/** `sample_from_quad_center(steps, k, center, power)` of the reference: k full-step indices, or null when no power > 1 fits. */
const quadCenter = (steps: number, k: number, center: number, power: number): { full: number[]; power: number } | null => {
  for (let p = power; p > 1; p -= 0.02) {
    const ls = linspace(realPow(-center, 1 / p), realPow(steps - center, 1 / p), k)
    const ints = [...new Set(ls.map((l) => Math.trunc(powRe(l, p))))].sort((a, b) => a - b)
    const full = [0, ...ints.slice(1, -1).map((i) => i + center)]
    if (full.length === k) return { full, power: p }
  }
  return null
}

/** The full steps of a sampling run (see the file comment). Throws MlError when non-uniform finds no power > 1. */
export const fullStepPlan = (steps: number, c: Pick<DeepCacheConfig, "interval" | "schedule" | "center" | "power">): FullStepPlan => {
  if (!(Number.isInteger(steps) && steps >= 1)) throw invalidInput(`deepcache: steps must be an integer >= 1, got ${steps}`)
  if (!(Number.isInteger(c.interval) && c.interval >= 1)) throw invalidInput(`deepcache interval must be an integer >= 1, got ${c.interval}`)
  const every = (n: number): number[] => Array.from({ length: Math.ceil(steps / n) }, (_, i) => i * n)
  if (c.schedule === "uniform" || c.interval === 1) return { steps, full: every(c.interval), power: null }
  const k = Math.ceil(steps / c.interval)
  const q = quadCenter(steps, k, c.center, c.power)
  if (q === null)
    throw invalidInput(`deepcache non-uniform: no power in (1, ${c.power}] spreads ${k} distinct full steps over ${steps} steps around center ${c.center}; lower the center or raise the interval`)
  return { steps, full: q.full, power: q.power }
}

/** true at step i when step i is full. */
export const fullMask = (plan: FullStepPlan): boolean[] => {
  const mask = new Array<boolean>(plan.steps).fill(false)
  for (const i of plan.full) mask[i] = true
  return mask
}

// ---- the wrapper ------------------------------------------------------------------------------------
export interface CallCounts {
  full: number
  shallow: number
}

export interface CachedModel {
  readonly fn: ModelFn
  /** Frees the cached feature (the factory's dispose, after the batch). */
  readonly dispose: () => void
  /** Model calls so far, by kind (for tests and accounting). */
  readonly calls: Readonly<CallCounts>
}

/**
 * The sampler's model function for one batch: full passes on the plan's full steps, shallow passes with
 * the kept feature on the others. The feature is kept only when the next step is shallow.
 */
export const deepCache = (runner: UNetRunner, branch: number, plan: FullStepPlan): CachedModel => {
  const full = fullMask(plan)
  const calls: CallCounts = { full: 0, shallow: 0 }
  let deep: tf.Tensor4D | undefined
  const fn: ModelFn = (x, modelTime, call) => {
    const t = timeInput(x, modelTime)
    if (full[call.step] !== false) {
      const next = call.step + 1
      const keep = next < plan.steps && full[next] === false ? branch : undefined
      const r = runner.full(x as tf.Tensor4D, t, call.cond, keep)
      calls.full++
      if (r.kept !== undefined) {
        deep?.dispose()
        deep = tf.keep(r.kept) // outlives the loop's tidy around this call
      }
      return r.out
    }
    if (deep === undefined) throw new Error(`deepcache: shallow step ${call.step} before any full step (plans start with a full step)`)
    calls.shallow++
    return runner.shallow(x as tf.Tensor4D, t, call.cond, branch, deep)
  }
  return {
    fn,
    calls,
    dispose: () => {
      deep?.dispose()
      deep = undefined
    },
  }
}

/** Multiply-adds per item of a whole sampling run (evalsPerStep model calls per step). */
export const planMacs = (plan: FullStepPlan, evalsPerStep: number, macs: { readonly full: number; readonly shallow: number }): number =>
  evalsPerStep * (plan.full.length * macs.full + (plan.steps - plan.full.length) * macs.shallow)
