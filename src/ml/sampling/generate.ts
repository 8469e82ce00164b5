// src/ml/sampling/generate.ts: draws `count` samples in batches with a registered sampler, around a
// model function the caller builds per batch. The caller's factory is where classifier-free guidance,
// DeepCache and ControlNet wrap the network (src/ml/sampling/*.ts); the samplers never see them.
// Conventions: diffusion samplers start from x_T ~ N(0, I) and end at x_0; rectified-flow samplers start
// from x0 ~ N(0, I) at t = 0 and end at data, t = 1 (src/ml/diffusion.ts). Pixel models work in [-1, 1].
// Seeds: item i's starting noise is drawn from rng.fork(`start/${i}`), so deterministic samplers (DDIM
// with eta = 0, rf-*) give the same item i for any batchSize (up to float rounding of batched kernels);
// per-step noise (DDPM, DDIM eta > 0) is drawn per batch from rng.fork(`steps/${b}`), so there the
// samples depend on batchSize too.
import * as tf from "@tensorflow/tfjs"
import type { DiffusionMeta } from "../diffusion-meta.ts"
import { interruptedAt } from "../errors.ts"
import type { Conditioning } from "../nn/conditioning.ts"
import type { Model } from "../nn/model.ts"
import { Rng } from "../random.ts"
import type { ModelFn } from "../samplers/loop.ts"
import { checkSampler, type SamplerName, samplers, type SamplerSettings } from "../samplers/registry.ts"

/** Which items a batch holds: first..first+count-1 of the whole run. */
export interface BatchSpec {
  readonly index: number
  readonly first: number
  readonly count: number
}

/** The network for one batch: its function (possibly wrapped), the batch's conditioning, and clean-up. */
export interface BatchModel {
  readonly fn: ModelFn
  readonly cond: Conditioning
  /** Releases what the batch built (conditioning tensors, a feature cache). */
  readonly dispose: () => void
}

export type ModelFactory = (batch: BatchSpec) => BatchModel

export interface GenerateOptions {
  readonly sampler: SamplerName
  readonly settings: SamplerSettings
  readonly steps: number
  readonly count: number
  readonly batchSize: number
  readonly seed: number
}

export interface SampleHooks {
  /** After every sampler step: done / total over all batches. */
  readonly onStep?: (done: number, total: number) => void
  readonly interrupted?: () => boolean
  /** Seconds on a monotonic clock, for seconds per image only. */
  readonly now?: () => number
}

export interface Generated {
  /** [count, ...itemShape] row-major, in model space ([-1, 1] pixels or standardised latents). */
  readonly values: Float32Array
  /** Wall-clock seconds of the sampling loops (the one non-deterministic number). */
  readonly seconds: number
  /** Sampler steps x model evaluations per step, per sample. */
  readonly evals: number
}

/** The starting noise of items first..first+n-1 for a sampling seed's Rng: item i from rng.fork(`start/${i}`). */
export const startNoise = (rng: Rng, first: number, n: number, itemSize: number): Float32Array => {
  const out = new Float32Array(n * itemSize)
  for (let i = 0; i < n; i++) out.set(rng.fork(`start/${first + i}`).normals(itemSize), i * itemSize)
  return out
}

/** Batches of `batchSize` covering `count` items. */
export const batchesOf = (count: number, batchSize: number): BatchSpec[] =>
  Array.from({ length: Math.ceil(count / batchSize) }, (_, index) => ({ index, first: index * batchSize, count: Math.min(batchSize, count - index * batchSize) }))

/** Raised inside the loop's progress callback to leave it; caught here, rethrown as MlError "interrupted". */
class StopRequested extends Error {}

/**
 * Draws `o.count` samples; each batch's network comes from `factory` and is disposed after the batch.
 * Leaves no tensors behind. Throws MlError ("invalid-input" for a sampler that does not fit, "interrupted").
 */
export const generate = (meta: DiffusionMeta, o: GenerateOptions, factory: ModelFactory, hooks: SampleHooks = {}): Generated => {
  checkSampler(o.sampler, o.steps, meta)
  const sampler = samplers[o.sampler]
  const itemSize = meta.itemShape.reduce((a, b) => a * b, 1)
  const rng = new Rng(o.seed)
  const values = new Float32Array(o.count * itemSize)
  const batches = batchesOf(o.count, o.batchSize)
  const total = batches.length * o.steps
  const now = hooks.now ?? (() => 0)
  let seconds = 0
  for (const b of batches) {
    if (hooks.interrupted?.() === true) throw interruptedAt(`before batch ${b.index + 1} of ${batches.length}`)
    const xStart = tf.tensor(startNoise(rng, b.first, b.count, itemSize), [b.count, ...meta.itemShape], "float32")
    const onStep = (done: number): void => {
      hooks.onStep?.(b.index * o.steps + done, total)
      if (hooks.interrupted?.() === true) throw new StopRequested()
    }
    const t0 = now()
    const net = factory(b)
    try {
      // tidy also frees the loop's live x when StopRequested unwinds through it.
      const x = tf.tidy(() => sampler.run(o.settings, meta, { steps: o.steps, model: net.fn, cond: net.cond, xStart, rng: rng.fork(`steps/${b.index}`), onStep }))
      values.set(x.dataSync(), b.first * itemSize)
      x.dispose()
    } catch (e) {
      if (e instanceof StopRequested) throw interruptedAt(`in batch ${b.index + 1} of ${batches.length}`)
      throw e
    } finally {
      net.dispose()
      xStart.dispose()
      seconds += now() - t0
    }
  }
  return { values, seconds, evals: o.steps * sampler.evalsPerStep }
}

/** A model's own forward pass as a ModelFn: t broadcast over the batch, the call's conditioning passed on. */
export const networkFn = (model: Model): ModelFn => (x, modelTime, call) =>
  model.apply(x, tf.fill([x.shape[0]!], modelTime, "float32") as tf.Tensor1D, { cond: call.cond })
