// What the sampling nodes (sample, sample-latent, reflow-pairs) share at the node boundary: their params
// schema, the load-plan-sample step (sampleWith), guidance around a per-batch model factory, the sampling
// record their artifacts carry, and the PNG grid of pixel samples. It imports no architecture: each node
// brings its own loader (the U-Net side, with its runner, DeepCache and ControlNet, is
// nodes/_pixel-sampling.ts), so a node's code version covers only the network it runs.
// The sampling itself is src/ml/sampling/generate.ts over the one loop in src/ml/samplers/loop.ts.
import { type Static, Type } from "@sinclair/typebox"
import type { Effect } from "effect"
import { imageBatchToUint8 } from "../src/artifacts/convert.ts"
import type { FileArtifact, ImageBatch, Metrics, Weights } from "../src/artifacts/types.ts"
import type { NodeContext, NodeError } from "../src/node.ts"
import { type DiffusionMeta, readDiffusionMeta, type Space } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { composeGrid, defaultGridOptions, labelRows } from "../src/ml/image/grid.ts"
import { encodePng } from "../src/ml/image/png.ts"
import type { Model } from "../src/ml/nn/model.ts"
import { type Generated, generate, type ModelFactory, networkFn } from "../src/ml/sampling/generate.ts"
import { samplerNames, samplers } from "../src/ml/samplers/registry.ts"
import { guidedFactory, guidanceEvals, type GuidanceOptions } from "../src/ml/sampling/guidance.ts"
import { guidanceParams, guidanceRecord } from "./_guidance.ts"
import { ml, seconds, withModel } from "./_ml.ts"
import { deepcacheLabel, deepcacheParams } from "./_deepcache-params.ts"

/**
 * Params of the sampling nodes (one schema, two defaults for clipX0: clamping x̂_0 to [-1, 1] is right
 * for pixels and wrong for standardised latents, whose values are not bounded by 1).
 */
export const samplingParams = (o: { readonly clipX0: boolean }) =>
  Type.Object({
    sampler: Type.Union(samplerNames.map((s) => Type.Literal(s)), {
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
    clipX0: Type.Boolean({ default: o.clipX0, description: "Clamp the predicted x_0 to [-1, 1] (ddpm/ddim; ddim then re-derives its epsilon from the clamped x_0)." }),
    count: Type.Integer({ minimum: 1, default: 64, description: "Number of samples." }),
    batchSize: Type.Integer({ minimum: 1, default: 64, description: "Samples per network call." }),
    seed: Type.Integer({ default: 0, description: "Seed of the starting noise and of the per-step noise." }),
    ...guidanceParams,
    ...deepcacheParams,
  })
export type SamplingParams = Static<ReturnType<typeof samplingParams>>

/** A short name for titles and tables: "DDPM-1000", "DDIM-50", "RF-EULER-5", "DDIM-100-CACHE-5" (+ "-NU": non-uniform). */
export const samplerLabel = (p: Pick<SamplingParams, "sampler" | "steps" | "deepcache">): string => `${p.sampler.toUpperCase()}-${p.steps}${deepcacheLabel(p.deepcache)}`

/** Reads the model's diffusion metadata and checks it belongs to this node's space. */
export const modelMeta = (w: Weights, space: Space): DiffusionMeta => {
  const meta = readDiffusionMeta(w)
  if (meta.space !== space) throw invalidInput(`this is a ${meta.space}-space model; sample it with ${meta.space === "pixel" ? "sample" : "sample-latent"}`)
  return meta
}

/** The bare network as every batch's model function (no per-batch state: nothing to build or free). */
export const networkFactory = (model: Model): ModelFactory => {
  const fn = networkFn(model)
  return () => ({ fn, cond: {}, dispose: () => {} })
}

/** Classifier-free guidance (nodes/_guidance.ts: guidancePlan) around `factory`'s network; no plan = `factory`. */
export const withGuidance = (plan: GuidanceOptions | undefined, factory: ModelFactory): ModelFactory =>
  plan === undefined ? factory : guidedFactory(factory, plan)

/**
 * How one loaded model is sampled: the per-batch factory (where sampling-time wrappers compose) and the
 * deterministic cost entries the record gains (DeepCache's). Planned, and so checked, before any step.
 */
export interface SamplingPlan {
  readonly factory: ModelFactory
  readonly cost?: Readonly<Record<string, string | number>> | undefined
}

/**
 * Loads the model with `acquire`, plans its sampling with `plan` (which may throw MlError before any
 * step), samples it and disposes it. The architecture lives in the callers: this module imports none, so
 * a node's code version holds only the architecture its own loader and plan import.
 */
export const sampleWith = (
  acquire: () => Model, meta: DiffusionMeta, p: SamplingParams, ctx: NodeContext, phase: string, plan: (model: Model) => SamplingPlan,
): Effect.Effect<Sampled, NodeError> =>
  withModel("loading the model", acquire, (model) =>
    ml("sampling", () => {
      const { factory, cost } = plan(model)
      const out = generate(meta, { sampler: p.sampler, settings: p, steps: p.steps, count: p.count, batchSize: p.batchSize, seed: p.seed }, factory, {
        now: seconds,
        interrupted: ctx.interrupted,
        onStep: (step, total) => ctx.progress({ phase, step, total }),
      })
      return cost === undefined ? out : { ...out, cost }
    }))

/** A sampling run and, for a cached one, its deterministic cost record (nodes/_deepcache.ts). */
export type Sampled = Generated & { readonly cost?: Readonly<Record<string, string | number>> }

/**
 * What a sample artifact records about how it was made (the settings its sampler reads). seconds_per_image
 * is wall clock of the sampling loops / count: the one field that differs between identical runs.
 */
export const samplingRecord = (p: SamplingParams, meta: DiffusionMeta, out: Pick<Sampled, "seconds" | "evals" | "cost">): Record<string, string | number> => {
  const reads = samplers[p.sampler].reads
  return {
    sampler: p.sampler,
    label: samplerLabel(p),
    steps: p.steps,
    objective: meta.objective,
    ...(reads.includes("eta") ? { eta: p.eta } : {}),
    ...(reads.includes("spacing") ? { spacing: p.spacing } : {}),
    ...(reads.includes("clipX0") ? { clip_x0: p.clipX0 ? 1 : 0 } : {}),
    ...(reads.includes("variance") ? { variance: p.variance } : {}),
    count: p.count,
    seed: p.seed,
    ...guidanceRecord(p),
    ...out.cost,
    evals_per_image: out.evals * guidanceEvals(p.guidance), // a guided call of batch 2B evaluates each image twice
    seconds_per_image: out.seconds / p.count,
  }
}

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

/** Pixel samples in [-1, 1] -> an image batch in [0, 1] (clamped), shape from meta.itemShape [H, W, C]. */
export const toImageBatch = (values: Float32Array, itemShape: readonly number[], meta: ImageBatch["meta"]): ImageBatch => {
  const [height, width, channels] = itemShape as [number, number, number]
  const pixels = new Float32Array(values.length)
  for (let i = 0; i < values.length; i++) pixels[i] = Math.min(1, Math.max(0, (values[i]! + 1) / 2))
  return { count: values.length / (height * width * channels), height, width, channels, pixels, labels: null, meta }
}

/**
 * A PNG grid with a title (digits, A-Z, "-" only), 8 per row: the first up-to-64 images, or with
 * requested labels one row per class (its first 8 images).
 */
export const sampleGrid = (batch: ImageBatch, title: string): FileArtifact => {
  const cols = 8
  const cells = batch.labels === null ? Array.from({ length: Math.min(batch.count, 64) }, (_, i) => i) : labelRows(batch.labels, cols, 16)
  const rows = Math.max(1, Math.ceil(cells.length / cols))
  const u8 = imageBatchToUint8(batch)
  const size = batch.height * batch.width * batch.channels
  const items = cells.map((i) => ({
    images: i === null ? [] : [{ height: batch.height, width: batch.width, channels: batch.channels as 1 | 3, pixels: u8.subarray(i * size, (i + 1) * size) }],
  }))
  const image = composeGrid(items, { ...defaultGridOptions, rows, cols, title })
  return { name: "grid.png", mediaType: "image/png", bytes: encodePng(image) }
}
