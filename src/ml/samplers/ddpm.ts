// src/ml/samplers/ddpm.ts: DDPM ancestral sampling (Ho et al. 2020, arXiv:2006.11239, Algorithm 2).
// Notation: a = ᾱ_t, ap = ᾱ_{tPrev} (ᾱ_{-1} = 1); for a jump t -> tPrev the effective α = a/ap and
// β = 1 - a/ap (equal to the schedule's α_t, β_t when tPrev = t - 1, i.e. with all T steps), as
// diffusers' DDPMScheduler does for shorter plans. ε = model output.
import * as tf from "@tensorflow/tfjs"
import { predictX0 } from "../diffusion.ts"
import { abarAt, type Schedule } from "../schedules.ts"
import type { Sampler } from "./sampler.ts"
import { spacedTimesteps, type Spacing } from "./timesteps.ts"

export interface DdpmConfig {
  /** σ_t² = β_t ("beta", diffusers' fixed_large) or β~_t ("posterior", fixed_small): sec. 3.2 of arXiv:2006.11239. */
  readonly variance: "beta" | "posterior"
  readonly spacing: Spacing // irrelevant with all T steps (every spacing gives T-1..0)
  /** "clipped" clamps x̂_0 to [-1, 1] before forming the posterior mean (as Ho et al.'s released code). */
  readonly predictedX0: "raw" | "clipped"
}
export const ddpmDefaults: DdpmConfig = { variance: "posterior", spacing: "leading", predictedX0: "clipped" }

export const ddpm: Sampler<DdpmConfig, Schedule> = {
  name: "ddpm",
  timesteps: (c, T, n) => spacedTimesteps(c.spacing, T, n),
  end: -1,
  modelTime: (t) => t,
  needsNoise: () => true,
  evalsPerStep: 1,
  step: (c, schedule, { x, out: eps, t, tPrev, noise }) => {
    const a = abarAt(schedule, t)
    const ap = abarAt(schedule, tPrev)
    const alpha = a / ap
    const beta = 1 - alpha
    // Posterior q(x_tPrev | x_t, x_0) = N(μ~, β~), eq. (6)-(7), evaluated at x_0 = x̂_0.
    const cX0 = (Math.sqrt(ap) * beta) / (1 - a)
    const cXt = (Math.sqrt(alpha) * (1 - ap)) / (1 - a)
    const variance = c.variance === "posterior" ? ((1 - ap) / (1 - a)) * beta : beta
    // Algorithm 2 adds no noise on the last step (z = 0 at t = 1); with ᾱ_{-1} = 1, μ~ = x̂_0 there.
    const last = tPrev < 0
    if (!last && noise === undefined) throw new Error(`ddpm: noise missing at t = ${t}`)
    return tf.tidy(() => {
      const raw = predictX0(x, eps, a) // eq. (15)
      const x0 = c.predictedX0 === "clipped" ? raw.clipByValue(-1, 1) : raw
      const mean = x0.mul(cX0).add(x.mul(cXt))
      return last || noise === undefined ? mean : mean.add(noise.mul(Math.sqrt(variance)))
    })
  },
}
