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
import type { ModelFn } from "../samplers/loop.ts"
import { fullMask, type FullStepPlan } from "./deepcache-plan.ts"
import { timeInput, type UNetRunner } from "./unet-runner.ts"

// The planning half (config, defaults, checks, full-step plans, MAC counts) lives in deepcache-plan.ts:
// import it from there (a node that only plans or validates then keeps this wrapper, and tfjs ops, out
// of its code version).

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
