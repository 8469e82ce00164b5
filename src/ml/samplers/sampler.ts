// src/ml/samplers/sampler.ts: the one contract every sampler file implements (ddpm, ddim, rf-euler, ...).
// Notation: a *plan* is the list of times at which the model is evaluated, in the order visited:
// integer timesteps high to low for diffusion (t ∈ [0, T)), increasing t ∈ [0, 1) for rectified flow.
// `tPrev` is the time a step moves to: the next plan entry, or `sampler.end` after the last one
// (-1 for diffusion, meaning "clean data, ᾱ_{-1} = 1"; 1 for rectified flow). The name follows
// diffusion's reverse-time numbering (x_t -> x_{t_prev}); for rectified flow tPrev = t + h > t.
import type * as tf from "@tensorflow/tfjs"

/** A network call in plan-time units: the loop maps t to the network's time input (Sampler.modelTime). */
export type PlanModel = (x: tf.Tensor, t: number) => tf.Tensor

export interface StepInput {
  readonly x: tf.Tensor // x at time t
  readonly out: tf.Tensor // model output at (x, t): ε for ddpm/ddim, velocity for rf-*
  readonly t: number
  readonly tPrev: number
  /** N(0, I) shaped like x; given on every step when sampler.needsNoise(config), else absent. */
  readonly noise?: tf.Tensor | undefined
  /** Extra model evaluations within a step (multi-stage solvers such as rf-midpoint); plan-time units. */
  readonly model?: PlanModel | undefined
}

/**
 * `S` is what a step reads besides the model output: the noise `Schedule` for diffusion samplers,
 * `void` for rectified flow (its "schedule" is the straight path itself).
 */
export interface Sampler<C, S> {
  readonly name: string
  /** The plan: the `steps` times (1..T) where the model is evaluated, T = training timesteps. Never stored. */
  readonly timesteps: (config: C, T: number, steps: number) => number[]
  /** tPrev of the last step. */
  readonly end: number
  /** Plan time -> the network's (float) time input. */
  readonly modelTime: (t: number) => number
  /** Whether `step` consumes fresh N(0, I) noise (DDPM; DDIM with eta > 0). */
  readonly needsNoise: (config: C) => boolean
  /** Model evaluations per step (1 for first-order methods, 2 for midpoint): for throughput reporting. */
  readonly evalsPerStep: number
  /**
   * x_t -> x_{tPrev}. Returns one new tensor and keeps nothing else (it runs under tf.tidy); it never
   * disposes its inputs. Throws only on programmer error (bad t, missing model for multi-stage).
   */
  readonly step: (config: C, schedule: S, input: StepInput) => tf.Tensor
}
