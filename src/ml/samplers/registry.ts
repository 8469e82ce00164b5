// src/ml/samplers/registry.ts: every sampler pipe can run, by name. Adding a sampler = one file in this
// folder (the Sampler contract of sampler.ts) + one line here, as diffusers adds a scheduler.
// An entry knows which objective's output its sampler consumes and how the sampling node's settings
// become that sampler's config; `run` erases the sampler's config and schedule types for callers.
import type * as tf from "@tensorflow/tfjs"
import type { DiffusionMeta, Objective } from "../diffusion-meta.ts"
import { invalidInput } from "../errors.ts"
import { epsFromV } from "../diffusion.ts"
import { abarAt, makeSchedule, type Schedule } from "../schedules.ts"
import { ddim } from "./ddim.ts"
import { ddpm } from "./ddpm.ts"
import { type LoopOptions, type ModelFn, sampleLoop } from "./loop.ts"
import { type RfConfig, rfDefaults, rfEuler } from "./rf-euler.ts"
import { rfMidpoint } from "./rf-midpoint.ts"
import type { Sampler } from "./sampler.ts"
import type { Spacing } from "./timesteps.ts"

/** The union of every sampler's knobs, as the sampling nodes expose them; each sampler reads its own. */
export interface SamplerSettings {
  readonly eta: number // ddim
  readonly spacing: Spacing // ddpm, ddim
  readonly variance: "beta" | "posterior" // ddpm
  readonly clipX0: boolean // ddpm, ddim
}

/** One loop run for a batch: everything but the sampler's config and schedule. */
export type BatchLoop = Omit<LoopOptions<unknown, unknown>, "config" | "schedule" | "T">

export interface RegisteredSampler {
  readonly name: string
  /** A diffusion model, ε- or v-prediction ("ddpm"), or a velocity field ("rectified-flow"). */
  readonly objective: Objective
  /** Model evaluations per step. */
  readonly evalsPerStep: number
  /** The settings this sampler reads (for records and tables). */
  readonly reads: readonly (keyof SamplerSettings)[]
  readonly run: (settings: SamplerSettings, meta: DiffusionMeta, loop: BatchLoop) => tf.Tensor
}

/**
 * A v-prediction network as the ε-model diffusion samplers read (src/ml/diffusion.ts: epsFromV). Wraps
 * the outermost model function, so guidance's linear mix of v's equals the mix of the converted ε's.
 * Diffusion samplers' model time is the integer timestep itself.
 */
const epsOfVModel = (model: ModelFn, schedule: Schedule): ModelFn => (x, modelTime, call) =>
  epsFromV(x, model(x, modelTime, call), abarAt(schedule, modelTime))

const diffusion = <C>(sampler: Sampler<C, Schedule>, config: (s: SamplerSettings) => C, reads: readonly (keyof SamplerSettings)[]): RegisteredSampler => ({
  name: sampler.name,
  objective: "ddpm",
  evalsPerStep: sampler.evalsPerStep,
  reads,
  run: (s, meta, loop) => {
    if (meta.schedule === undefined) throw invalidInput(`sampler ${sampler.name} needs the model's noise schedule`)
    const schedule = makeSchedule(meta.schedule)
    const model = meta.prediction === "v" ? epsOfVModel(loop.model, schedule) : loop.model
    return sampleLoop(sampler, { ...loop, model, config: config(s), schedule, T: schedule.T })
  },
})

const flow = (sampler: Sampler<RfConfig, void>): RegisteredSampler => ({
  name: sampler.name,
  objective: "rectified-flow",
  evalsPerStep: sampler.evalsPerStep,
  reads: [],
  run: (_s, _meta, loop) => sampleLoop(sampler, { ...loop, config: rfDefaults, schedule: undefined, T: 0 }),
})

const predictedX0 = (s: SamplerSettings): "clipped" | "raw" => (s.clipX0 ? "clipped" : "raw")

export const samplers = {
  ddpm: diffusion(ddpm, (s) => ({ variance: s.variance, spacing: s.spacing, predictedX0: predictedX0(s) }), ["variance", "spacing", "clipX0"]),
  ddim: diffusion(ddim, (s) => ({ eta: s.eta, spacing: s.spacing, predictedX0: predictedX0(s) }), ["eta", "spacing", "clipX0"]),
  "rf-euler": flow(rfEuler),
  "rf-midpoint": flow(rfMidpoint),
} as const satisfies Record<string, RegisteredSampler>

export type SamplerName = keyof typeof samplers
export const samplerNames = Object.keys(samplers) as SamplerName[]

/** Throws MlError "invalid-input" when `name` cannot sample a model with this metadata at `steps`. */
export const checkSampler = (name: SamplerName, steps: number, meta: DiffusionMeta): void => {
  const wanted = samplers[name].objective
  if (wanted !== meta.objective) {
    const fits = samplerNames.filter((s) => samplers[s].objective === meta.objective)
    const needs = wanted === "ddpm" ? "an ε-prediction model (objective ddpm)" : "a velocity model (objective rectified-flow)"
    throw invalidInput(`sampler ${name} needs ${needs}, but this model was trained with objective ${meta.objective}; use ${fits.join(" or ")}`)
  }
  const T = meta.schedule?.T
  if (T !== undefined && steps > T) throw invalidInput(`steps ${steps} > the model's T = ${T}`)
}
