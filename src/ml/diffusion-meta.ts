// src/ml/diffusion-meta.ts: what a trained diffusion model's Weights record about how it was trained
// (objective, space, item shape, noise schedule, latent statistics, classes), stored under
// config.diffusion. Read by every sampler and written by the trainers; no tensors here, so a node that
// only reads it does not depend on the training code.
import type { Weights } from "../artifacts/types.ts"
import { invalidInput } from "./errors.ts"
import type { Prediction, RfTimeDistribution } from "./diffusion.ts"
import type { ScheduleConfig } from "./schedules.ts"

export type Objective = "ddpm" | "rectified-flow"
export type Space = "pixel" | "latent"

/** What the network is trained to predict, and from which forward process. */
export type DiffusionProcess =
  | { readonly objective: "ddpm"; readonly schedule: ScheduleConfig; readonly prediction: Prediction }
  | { readonly objective: "rectified-flow"; readonly tSampling: RfTimeDistribution }

/**
 * Everything a sampler needs to know about a trained model besides its architecture; stored in the
 * Weights config under `diffusion` (architecture decoders ignore unknown keys).
 * `latent` carries the training latents' per-dimension mean/std so samples can be un-standardised.
 */
export interface DiffusionMeta {
  readonly objective: Objective
  readonly space: Space
  /** Shape of one item: [H, W, C] for pixels, [D] for latents. */
  readonly itemShape: readonly number[]
  /** The noise schedule (ddpm only). */
  readonly schedule?: ScheduleConfig
  /**
   * ddpm only: "v" for a v-prediction network. Absent means ε: ε-models record nothing, so their weights
   * keep the bytes they had before v-prediction existed (and stay cache hits downstream).
   */
  readonly prediction?: "v"
  readonly latent?: { readonly mean: readonly number[]; readonly std: readonly number[] }
  /** Class-conditional model: labels 0..numClasses-1, null class numClasses (classifier-free guidance). */
  readonly numClasses?: number
}

// ---- The diffusion metadata inside a Weights artifact --------------------------------------------

/** The weights with `meta` recorded under config.diffusion (JSON: plain numbers and arrays). */
export const withDiffusionMeta = (w: Weights, meta: DiffusionMeta): Weights => ({
  ...w,
  config: { ...w.config, diffusion: JSON.parse(JSON.stringify(meta)) as unknown },
})

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v)
const isNumArray = (v: unknown): v is number[] => Array.isArray(v) && v.every((x) => typeof x === "number")

const decodeSchedule = (v: unknown): ScheduleConfig => {
  if (!isObj(v) || typeof v.T !== "number") throw invalidInput("schedule must be an object with T")
  if (v.kind === "linear" && typeof v.betaStart === "number" && typeof v.betaEnd === "number")
    return { kind: "linear", T: v.T, betaStart: v.betaStart, betaEnd: v.betaEnd }
  if (v.kind === "cosine" && typeof v.s === "number" && typeof v.maxBeta === "number")
    return { kind: "cosine", T: v.T, s: v.s, maxBeta: v.maxBeta }
  throw invalidInput(`unknown schedule ${JSON.stringify(v)}`)
}

/** Reads config.diffusion back; throws MlError "invalid-input" saying what is missing (e.g. weights of a VAE). */
export const readDiffusionMeta = (w: Weights): DiffusionMeta => {
  const d = w.config.diffusion
  if (!isObj(d)) throw invalidInput(`weights of architecture "${w.architecture}" carry no diffusion metadata (were they produced by train-diffusion or train-latent-diffusion?)`)
  if (d.objective !== "ddpm" && d.objective !== "rectified-flow") throw invalidInput(`unknown objective ${JSON.stringify(d.objective)}`)
  if (d.space !== "pixel" && d.space !== "latent") throw invalidInput(`unknown space ${JSON.stringify(d.space)}`)
  if (!isNumArray(d.itemShape) || d.itemShape.length === 0) throw invalidInput("itemShape missing")
  const objective: Objective = d.objective
  const space: Space = d.space
  const schedule = d.objective === "ddpm" ? decodeSchedule(d.schedule) : undefined
  let latent: DiffusionMeta["latent"]
  if (d.space === "latent") {
    const l = d.latent
    const dim = d.itemShape[0]
    if (!isObj(l) || !isNumArray(l.mean) || !isNumArray(l.std) || l.mean.length !== dim || l.std.length !== dim)
      throw invalidInput(`latent model lacks the latents' mean/std of length ${dim}`)
    latent = { mean: l.mean, std: l.std }
  }
  if (d.prediction !== undefined && !(d.prediction === "v" && d.objective === "ddpm"))
    throw invalidInput(`prediction ${JSON.stringify(d.prediction)}: only a ddpm model records one, and only "v" (absent: ε)`)
  const numClasses = d.numClasses
  if (numClasses !== undefined && !(typeof numClasses === "number" && Number.isInteger(numClasses) && numClasses >= 1))
    throw invalidInput(`numClasses must be a positive integer, got ${JSON.stringify(numClasses)}`)
  return {
    objective, space, itemShape: d.itemShape,
    ...(schedule === undefined ? {} : { schedule }),
    ...(d.prediction === "v" ? { prediction: "v" as const } : {}),
    ...(latent === undefined ? {} : { latent }),
    ...(numClasses === undefined ? {} : { numClasses }),
  }
}
