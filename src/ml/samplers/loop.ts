// src/ml/samplers/loop.ts: the sampling loop, written once for every sampler (the sampling node calls it).
// Notation as sampler.ts: plan = sampler.timesteps(config, T, steps); x starts at x_T (diffusion, pure
// noise) or x_0 (rectified flow, pure noise) and each step maps x_t to x_{tPrev}.
import * as tf from "@tensorflow/tfjs"
import { normalTensor } from "../diffusion.ts"
import type { Conditioning } from "../nn/conditioning.ts"
import type { Rng } from "../random.ts"
import type { Sampler } from "./sampler.ts"

/** What a model call knows besides x and t: the sampler's step index (0-based, the same for every
 * evaluation within one step, e.g. rf-midpoint's two) and the batch's conditioning. */
export interface ModelCall {
  readonly step: number
  readonly cond: Conditioning
}

/**
 * The network in *its* time units (sampler.modelTime already applied): ε-predictor or velocity field.
 * The sampling node wraps it (classifier-free guidance, DeepCache feature reuse, ControlNet) without
 * the sampler knowing. It is called inside tf.tidy: a wrapper that keeps tensors across calls must
 * tf.keep them (and dispose them later).
 */
export type ModelFn = (x: tf.Tensor, modelTime: number, call: ModelCall) => tf.Tensor

export interface LoopOptions<C, S> {
  readonly config: C
  readonly schedule: S
  readonly T: number // training timesteps (schedule.T); unused by rectified-flow samplers
  readonly steps: number
  readonly model: ModelFn
  /** The batch's conditioning, handed to every model call (default: none). */
  readonly cond?: Conditioning
  readonly xStart: tf.Tensor // x_T noise; stays owned by the caller
  /** Per-step noise, drawn (when sampler.needsNoise) on every step in plan order, so a seed fixes the run. */
  readonly rng: Rng
  readonly onStep?: (done: number, total: number) => void // progress, after each step
}

/** Runs the plan; returns a new tensor (caller disposes) and leaves no other tensor behind. */
export const sampleLoop = <C, S>(sampler: Sampler<C, S>, o: LoopOptions<C, S>): tf.Tensor => {
  const plan = sampler.timesteps(o.config, o.T, o.steps)
  const noisy = sampler.needsNoise(o.config)
  let x = o.xStart
  for (let i = 0; i < plan.length; i++) {
    const call: ModelCall = { step: i, cond: o.cond ?? {} }
    const model = (xi: tf.Tensor, ti: number): tf.Tensor => tf.tidy(() => o.model(xi, sampler.modelTime(ti), call))
    const t = plan[i]!
    const tPrev = i + 1 < plan.length ? plan[i + 1]! : sampler.end
    const out = model(x, t)
    const noise = noisy ? normalTensor(o.rng, x.shape) : undefined
    const next = sampler.step(o.config, o.schedule, { x, out, t, tPrev, noise, model })
    out.dispose()
    noise?.dispose()
    if (x !== o.xStart) x.dispose()
    x = next
    o.onStep?.(i + 1, plan.length)
  }
  return x === o.xStart ? x.clone() : x
}
