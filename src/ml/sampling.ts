// src/ml/sampling.ts: what the `sample` and `sample-latent` nodes share: their params, the check that a
// sampler fits the model's objective, the batched run of the shared sampleLoop (src/ml/samplers/loop.ts)
// with seeded noise, and the conversion of pixel samples to an image batch and a PNG grid.
// Conventions: diffusion samplers start from x_T ~ N(0, I) and end at x_0; rectified-flow samplers start
// from x0 ~ N(0, I) at t = 0 and end at data, t = 1 (src/ml/diffusion.ts). Pixel models work in [-1, 1];
// images leave here in [0, 1].
// Seeds: item i's starting noise is drawn from rng.fork(`start/${i}`), so deterministic samplers (DDIM
// with eta = 0, rf-*) give the same item i for any batchSize (up to float rounding of batched kernels);
// per-step noise (DDPM, DDIM eta > 0) is drawn per batch from rng.fork(`steps/${b}`), so there the
// samples depend on batchSize too.
import { type Static, Type } from "@sinclair/typebox"
import * as tf from "@tensorflow/tfjs"
import { imageBatchToUint8 } from "../artifacts/convert.ts"
import type { FileArtifact, ImageBatch, Metrics, Tensor, Weights } from "../artifacts/types.ts"
import { composeGrid, defaultGridOptions } from "./image/grid.ts"
import { encodePng } from "./image/png.ts"
import { disposeModel, type Model, modelFromWeights } from "./nn/index.ts"
import { Rng } from "./random.ts"
import { ddim } from "./samplers/ddim.ts"
import { ddpm } from "./samplers/ddpm.ts"
import type { ModelFn } from "./samplers/loop.ts"
import { sampleLoop } from "./samplers/loop.ts"
import { rfDefaults, rfEuler } from "./samplers/rf-euler.ts"
import { rfMidpoint } from "./samplers/rf-midpoint.ts"
import type { Sampler } from "./samplers/sampler.ts"
import { makeSchedule } from "./schedules.ts"
import type { ReflowPairs } from "./reflow.ts"
import { type DiffusionMeta, type Objective, readDiffusionMeta, type Space } from "./training/diffusion.ts"

export type SamplerName = "ddpm" | "ddim" | "rf-euler" | "rf-midpoint"

/** Which objective's output each sampler consumes: ε for ddpm/ddim, velocity for rf-*. */
export const samplerObjective: Readonly<Record<SamplerName, Objective>> = {
  ddpm: "ddpm",
  ddim: "ddpm",
  "rf-euler": "rectified-flow",
  "rf-midpoint": "rectified-flow",
}

/**
 * Params of both sampling nodes (one schema, two defaults for clipX0: clamping x̂_0 to [-1, 1] is right
 * for pixels and wrong for standardised latents, whose values are not bounded by 1).
 */
export const samplingParams = (o: { readonly clipX0: boolean }) =>
  Type.Object({
    sampler: Type.Union([Type.Literal("ddpm"), Type.Literal("ddim"), Type.Literal("rf-euler"), Type.Literal("rf-midpoint")], {
      default: "ddim",
      description: "ddpm (ancestral, Ho et al. Alg. 2) or ddim (Song et al. eq. 12) for objective ddpm; rf-euler or rf-midpoint for rectified-flow.",
    }),
    steps: Type.Integer({ minimum: 1, maximum: 1000, default: 50, description: "Sampler steps (<= the model's T for ddpm/ddim)." }),
    eta: Type.Number({ minimum: 0, default: 0, description: "DDIM eta: 0 deterministic, 1 = DDPM posterior variance (ddim only)." }),
    spacing: Type.Union([Type.Literal("leading"), Type.Literal("trailing"), Type.Literal("linspace")], {
      default: "trailing",
      description: "Timestep spacing of Lin et al. Table 2 (ddpm/ddim); trailing always starts at T-1, the pure-noise end.",
    }),
    variance: Type.Union([Type.Literal("beta"), Type.Literal("posterior")], {
      default: "posterior",
      description: "DDPM sigma_t^2: beta_t or the posterior beta~_t (ddpm only).",
    }),
    clipX0: Type.Boolean({ default: o.clipX0, description: "Clamp the predicted x_0 to [-1, 1] (ddpm/ddim)." }),
    count: Type.Integer({ minimum: 1, default: 64, description: "Number of samples." }),
    batchSize: Type.Integer({ minimum: 1, default: 64, description: "Samples per network call." }),
    seed: Type.Integer({ default: 0, description: "Seed of the starting noise and of the per-step noise." }),
  })
export type SamplingParams = Static<ReturnType<typeof samplingParams>>

/** A short name for titles and tables: "DDPM-1000", "DDIM-50", "RF-EULER-5". */
export const samplerLabel = (p: Pick<SamplingParams, "sampler" | "steps">): string => `${p.sampler.toUpperCase()}-${p.steps}`

/** Why `p` cannot sample this model, or undefined when it can. */
export const checkSampling = (p: SamplingParams, meta: DiffusionMeta): string | undefined => {
  const wanted = samplerObjective[p.sampler]
  if (wanted !== meta.objective) {
    const fits = (Object.keys(samplerObjective) as SamplerName[]).filter((s) => samplerObjective[s] === meta.objective)
    const needs = wanted === "ddpm" ? "an ε-prediction model (objective ddpm)" : "a velocity model (objective rectified-flow)"
    return `sampler ${p.sampler} needs ${needs}, but this model was trained with objective ${meta.objective}; use ${fits.join(" or ")}`
  }
  const T = meta.schedule?.T
  if (T !== undefined && p.steps > T) return `steps ${p.steps} > the model's T = ${T}`
  return undefined
}

export interface SampleHooks {
  /** After every sampler step: done / total over all batches. */
  readonly onStep?: (done: number, total: number) => void
  readonly interrupted?: () => boolean
  /** Seconds on a monotonic clock, for seconds per image only. */
  readonly now?: () => number
}

export type SampleOutcome =
  | {
      readonly ok: true
      /** [count, ...itemShape] row-major, in model space ([-1, 1] pixels or standardised latents). */
      readonly values: Float32Array
      /** Wall-clock seconds of the sampling loops (the one non-deterministic number). */
      readonly seconds: number
      /** Network evaluations per sample. */
      readonly evals: number
    }
  | { readonly ok: false; readonly reason: "interrupted" }
  | { readonly ok: false; readonly reason: "invalid"; readonly message: string }

/** The starting noise of items first..first+n-1 for a sampling seed's Rng: item i from rng.fork(`start/${i}`). */
export const startNoise = (rng: Rng, first: number, n: number, itemSize: number): Float32Array => {
  const out = new Float32Array(n * itemSize)
  for (let i = 0; i < n; i++) out.set(rng.fork(`start/${first + i}`).normals(itemSize), i * itemSize)
  return out
}

/** Raised inside the loop's progress callback to leave it; caught in `generate`, never escapes. */
class Interrupted extends Error {}

/** One batch through the chosen sampler; returns x at the end of the plan. */
const runLoop = (p: SamplingParams, meta: DiffusionMeta, model: ModelFn, xStart: tf.Tensor, rng: Rng, onStep: (d: number, n: number) => void): tf.Tensor => {
  const base = { steps: p.steps, model, xStart, rng, onStep }
  const predictedX0 = p.clipX0 ? "clipped" : "raw"
  if (p.sampler === "rf-euler" || p.sampler === "rf-midpoint") {
    const s: Sampler<typeof rfDefaults, void> = p.sampler === "rf-euler" ? rfEuler : rfMidpoint
    return sampleLoop(s, { ...base, config: rfDefaults, schedule: undefined, T: 0 })
  }
  if (meta.schedule === undefined) throw new Error("runLoop: a ddpm model without schedule passed checkSampling")
  const schedule = makeSchedule(meta.schedule)
  return p.sampler === "ddpm"
    ? sampleLoop(ddpm, { ...base, config: { variance: p.variance, spacing: p.spacing, predictedX0 }, schedule, T: schedule.T })
    : sampleLoop(ddim, { ...base, config: { eta: p.eta, spacing: p.spacing, predictedX0 }, schedule, T: schedule.T })
}

const evalsPerStep = (s: SamplerName): number => (s === "rf-midpoint" ? rfMidpoint.evalsPerStep : 1)

/** Draws `p.count` samples from `model` in batches of `p.batchSize`. Leaves no tensors behind. */
export const generate = (model: Model, meta: DiffusionMeta, p: SamplingParams, hooks: SampleHooks = {}): SampleOutcome => {
  const invalid = checkSampling(p, meta)
  if (invalid !== undefined) return { ok: false, reason: "invalid", message: invalid }
  const itemSize = meta.itemShape.reduce((a, b) => a * b, 1)
  const rng = new Rng(p.seed)
  const values = new Float32Array(p.count * itemSize)
  const batches = Math.ceil(p.count / p.batchSize)
  const total = batches * p.steps
  const now = hooks.now ?? (() => 0)
  const net: ModelFn = (x, modelTime) => model.apply(x, tf.fill([x.shape[0]!], modelTime, "float32") as tf.Tensor1D)
  let seconds = 0
  for (let b = 0; b < batches; b++) {
    if (hooks.interrupted?.() === true) return { ok: false, reason: "interrupted" }
    const first = b * p.batchSize
    const n = Math.min(p.batchSize, p.count - first)
    const start = startNoise(rng, first, n, itemSize)
    const xStart = tf.tensor(start, [n, ...meta.itemShape], "float32")
    const onStep = (done: number): void => {
      hooks.onStep?.(b * p.steps + done, total)
      if (hooks.interrupted?.() === true) throw new Interrupted()
    }
    const t0 = now()
    try {
      // tidy also frees the loop's live x when Interrupted unwinds through it.
      const x = tf.tidy(() => runLoop(p, meta, net, xStart, rng.fork(`steps/${b}`), onStep))
      values.set(x.dataSync(), first * itemSize)
      x.dispose()
    } catch (e) {
      if (e instanceof Interrupted) return { ok: false, reason: "interrupted" }
      throw e
    } finally {
      xStart.dispose()
      seconds += now() - t0
    }
  }
  return { ok: true, values, seconds, evals: p.steps * evalsPerStep(p.sampler) }
}

/** Pixel samples in [-1, 1] -> an image batch in [0, 1] (clamped), shape from meta.itemShape [H, W, C]. */
export const toImageBatch = (values: Float32Array, itemShape: readonly number[], meta: ImageBatch["meta"]): ImageBatch => {
  const [height, width, channels] = itemShape as [number, number, number]
  const pixels = new Float32Array(values.length)
  for (let i = 0; i < values.length; i++) pixels[i] = Math.min(1, Math.max(0, (values[i]! + 1) / 2))
  return { count: values.length / (height * width * channels), height, width, channels, pixels, labels: null, meta }
}

/** A PNG grid of the first up-to-64 images, 8 per row, with a title (digits, A-Z, "-" only). */
export const sampleGrid = (batch: ImageBatch, title: string): FileArtifact => {
  const cols = 8
  const shown = Math.min(batch.count, 64)
  const rows = Math.max(1, Math.ceil(shown / cols))
  const u8 = imageBatchToUint8(batch)
  const size = batch.height * batch.width * batch.channels
  const items = Array.from({ length: shown }, (_, i) => ({
    images: [{ height: batch.height, width: batch.width, channels: batch.channels as 1 | 3, pixels: u8.subarray(i * size, (i + 1) * size) }],
  }))
  const image = composeGrid(items, { ...defaultGridOptions, rows, cols, title })
  return { name: "grid.png", mediaType: "image/png", bytes: encodePng(image) }
}

export type WeightsSampleOutcome =
  | { readonly ok: true; readonly meta: DiffusionMeta; readonly values: Float32Array; readonly seconds: number; readonly evals: number }
  | { readonly ok: false; readonly reason: "interrupted" }
  | { readonly ok: false; readonly reason: "invalid"; readonly message: string }

/** Rebuilds the model from a train-diffusion Weights artifact, checks its space and samples it. */
export const sampleWeights = (w: Weights, space: Space, p: SamplingParams, hooks: SampleHooks = {}): WeightsSampleOutcome => {
  const meta = readDiffusionMeta(w)
  if (typeof meta === "string") return { ok: false, reason: "invalid", message: meta }
  if (meta.space !== space)
    return { ok: false, reason: "invalid", message: `this is a ${meta.space}-space model; sample it with ${meta.space === "pixel" ? "sample" : "sample-latent"}` }
  const model = modelFromWeights(w)
  try {
    const out = generate(model, meta, p, hooks)
    return out.ok ? { ...out, meta } : out
  } finally {
    disposeModel(model)
  }
}

/**
 * What a sample artifact records about how it was made. seconds_per_image is wall clock of the sampling
 * loops / count: the one field that differs between identical runs.
 */
export const samplingRecord = (p: SamplingParams, meta: DiffusionMeta, seconds: number, evals: number): Record<string, string | number> => ({
  sampler: p.sampler,
  label: samplerLabel(p),
  steps: p.steps,
  objective: meta.objective,
  ...(p.sampler === "ddim" ? { eta: p.eta } : {}),
  ...(p.sampler === "ddpm" || p.sampler === "ddim" ? { spacing: p.spacing, clip_x0: p.clipX0 ? 1 : 0 } : {}),
  ...(p.sampler === "ddpm" ? { variance: p.variance } : {}),
  count: p.count,
  seed: p.seed,
  evals_per_image: evals,
  seconds_per_image: seconds / p.count,
})

/**
 * The record without its wall clock: what a sample artifact carries, so equal inputs and params give
 * equal bytes (the cache's purity contract); the full record travels as the `timing` metrics output.
 */
export const withoutWallClock = (record: Readonly<Record<string, string | number>>): Record<string, string | number> => {
  const { seconds_per_image: _wallClock, ...deterministic } = record
  return deterministic
}

/** The numeric entries of a sampling record as a metrics artifact (for timing tables). */
export const samplingMetrics = (record: Readonly<Record<string, string | number>>): Metrics => ({
  scalars: Object.fromEntries(Object.entries(record).filter((e): e is [string, number] => typeof e[1] === "number")),
  tables: {},
})

// ---- Reflow pairs (Liu et al. 2022, arXiv:2209.03003, sec. 2.3; the format is src/ml/reflow.ts) ---

/**
 * Runs the flow from fresh noise and keeps each (x0, x1) coupling: the data of a reflow training run.
 * Only for rectified-flow models; x0 is exactly the starting noise `generate` uses for the same seed.
 */
export const reflowPairsFromWeights = (w: Weights, p: SamplingParams, hooks: SampleHooks = {}): { ok: true; pairs: ReflowPairs; seconds: number; evals: number } | Exclude<WeightsSampleOutcome, { ok: true }> => {
  const meta = readDiffusionMeta(w)
  if (typeof meta === "string") return { ok: false, reason: "invalid", message: meta }
  if (meta.objective !== "rectified-flow") return { ok: false, reason: "invalid", message: `reflow needs a rectified-flow model; this one was trained with objective ${meta.objective}` }
  const out = sampleWeights(w, meta.space, p, hooks)
  if (!out.ok) return out
  const size = meta.itemShape.reduce((a, b) => a * b, 1)
  const noise = startNoise(new Rng(p.seed), 0, p.count, size)
  const data = new Float32Array(2 * p.count * size)
  for (let i = 0; i < p.count; i++) {
    data.set(noise.subarray(i * size, (i + 1) * size), 2 * i * size)
    data.set(out.values.subarray(i * size, (i + 1) * size), (2 * i + 1) * size)
  }
  const pairs: ReflowPairs = { count: p.count, itemShape: meta.itemShape, space: meta.space, data, ...(meta.latent === undefined ? {} : { latent: meta.latent }) }
  return { ok: true, pairs, seconds: out.seconds, evals: out.evals }
}
