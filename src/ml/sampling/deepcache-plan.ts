// src/ml/sampling/deepcache-plan.ts: the pure planning half of DeepCache (src/ml/sampling/deepcache.ts
// describes the method and the schedules): the config, its defaults and checks, which steps are full
// and what a plan costs. Kept apart from the wrapper, which runs a U-Net, so the params schema of the
// sampling nodes (nodes/_deepcache-params.ts) reaches no U-Net code: a latent-only node then carries no
// U-Net file in its code version.
import { invalidInput } from "../errors.ts"

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
    // A center at or past the last step can put a "full step" at index steps or beyond (the
    // reference never meets it: its centers sit inside the run); such a spread does not fit either.
    if (full.length === k && full.at(-1)! < steps) return { full, power: p }
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

/** Multiply-adds per item of a whole sampling run (evalsPerStep model calls per step). */
export const planMacs = (plan: FullStepPlan, evalsPerStep: number, macs: { readonly full: number; readonly shallow: number }): number =>
  evalsPerStep * (plan.full.length * macs.full + (plan.steps - plan.full.length) * macs.shallow)
