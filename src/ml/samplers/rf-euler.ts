// src/ml/samplers/rf-euler.ts: Euler's method for rectified flow (Liu et al. 2022, arXiv:2209.03003, sec. 2.1).
// Notation: dx/dt = v(x, t), t from 0 (noise x0 ~ N(0, I)) to 1 (data), see src/ml/diffusion.ts; uniform
// grid t_k = k/n, h = tPrev - t; x_{t+h} = x_t + h·v(x_t, t). Exact whenever v is constant along the
// path (a perfectly straight flow), which is what rectified flow trains towards: one step suffices.
import * as tf from "@tensorflow/tfjs"
import { rfModelTime } from "../diffusion.ts"
import type { Sampler } from "./sampler.ts"

export interface RfConfig {
  readonly grid: "uniform" // t_k = k / steps
}
export const rfDefaults: RfConfig = { grid: "uniform" }

/** [0, 1/n, ..., (n-1)/n]: the n times the velocity is evaluated at; the last step ends at t = 1. */
export const uniformGrid = (n: number): number[] => {
  if (!Number.isInteger(n) || n < 1 || n > 1000) throw new RangeError(`steps = ${n}: must be an integer in [1, 1000]`)
  return Array.from({ length: n }, (_, k) => k / n)
}

export const rfEuler: Sampler<RfConfig, void> = {
  name: "rf-euler",
  timesteps: (_c, _T, n) => uniformGrid(n),
  end: 1,
  modelTime: rfModelTime,
  needsNoise: () => false,
  evalsPerStep: 1,
  step: (_c, _s, { x, out: v, t, tPrev }) => tf.tidy(() => x.add(v.mul(tPrev - t))),
}
