// src/ml/sampling/guidance.ts: classifier-free guidance (Ho & Salimans, arXiv:2207.12598) as a wrapper
// around the model function, so every sampler (DDPM, DDIM, RF Euler / midpoint) is guided unchanged.
// Notation: the paper's eq. (6) is ε̃ = (1 + w) ε(z, c) − w ε(z); with s = 1 + w (the "guidance scale" of
// later work, e.g. Stable Diffusion) that is
//   ε̃ = ε_u + s (ε_c − ε_u),   ε_c = ε(x, t, labels),  ε_u = ε(x, t, ∅)   (∅ = the null class numClasses)
// For velocity models (rectified flow) the same linear combination of velocities (v_u + s (v_c − v_u)).
// Cost: ε_c and ε_u are ONE network call on a batch of 2B ([x; x] with [labels; ∅]), so each guided step
// costs 2 evaluations per image in one call. s = 1 is exactly ε_c and s = 0 exactly ε_u: both are
// special-cased to one call of batch B (bit-exact, half the cost).
import * as tf from "@tensorflow/tfjs"
import { type Conditioning, nullLabels, stackConditioning } from "../nn/conditioning.ts"
import type { ModelFn } from "../samplers/loop.ts"
import type { ModelFactory } from "./generate.ts"

/** Network evaluations per image per model call at scale s (absent = unguided): 2 for one call of batch 2B, else 1. */
export const guidanceEvals = (scale: number | undefined): 1 | 2 => (scale === undefined || scale === 0 || scale === 1 ? 1 : 2)

/** The call's conditioning with every label replaced by the null class (the unconditional model). */
const unconditional = (cond: Conditioning, batch: number, numClasses: number): Conditioning => ({ ...cond, labels: nullLabels(batch, numClasses) })

/**
 * `inner` guided at scale s: ε_u + s (ε_c − ε_u), with ε_c from the call's labels (required) and ε_u
 * from the null class. Other conditioning (e.g. a control image) is the same in both halves.
 */
export const guidanceFn = (inner: ModelFn, scale: number, numClasses: number): ModelFn => (x, modelTime, call) => {
  if (call.cond.labels === undefined) throw new Error("classifier-free guidance needs the batch's labels in cond.labels")
  const B = x.shape[0]!
  if (scale === 1) return inner(x, modelTime, call)
  return tf.tidy(() => {
    const uncond = unconditional(call.cond, B, numClasses)
    if (scale === 0) return inner(x, modelTime, { ...call, cond: uncond })
    const both = inner(tf.concat([x, x], 0), modelTime, { ...call, cond: stackConditioning(call.cond, uncond) }) // [2B, ...]
    const [c, u] = tf.split(both, 2, 0) as [tf.Tensor, tf.Tensor]
    return u.add(c.sub(u).mul(scale))
  })
}

export interface GuidanceOptions {
  /** The requested class of every item of the run (0..numClasses-1), item i at index i. */
  readonly labels: Int32Array
  /** Guidance scale s; absent = sample the conditional model as is (no unconditional pass). */
  readonly scale?: number
  readonly numClasses: number
}

/**
 * Wraps a per-batch factory: each batch's conditioning gets its items' labels (int32 [count]) and its
 * model function the guidance. The labels tensor is the batch's to dispose.
 */
export const guidedFactory = (inner: ModelFactory, o: GuidanceOptions): ModelFactory => (batch) => {
  const net = inner(batch)
  const labels = tf.tensor1d(o.labels.subarray(batch.first, batch.first + batch.count), "int32")
  return {
    fn: o.scale === undefined ? net.fn : guidanceFn(net.fn, o.scale, o.numClasses),
    cond: { ...net.cond, labels },
    dispose: () => {
      labels.dispose()
      net.dispose()
    },
  }
}
