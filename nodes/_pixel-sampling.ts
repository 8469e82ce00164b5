// The U-Net side of the sampling nodes (sample, reflow-pairs on a pixel model): the U-Net loader, its
// runner, and the sampling-time wrappers that need a U-Net (ControlNet, DeepCache). Only pixel nodes
// import this, so the latent MLP is not in their code version and the U-Net is not in sample-latent's.
import type { Effect } from "effect"
import type { Weights } from "../src/artifacts/types.ts"
import type { NodeContext, NodeError } from "../src/node.ts"
import type { DiffusionMeta } from "../src/ml/diffusion-meta.ts"
import type { Model } from "../src/ml/nn/model.ts"
import { unetFromWeights } from "../src/ml/nn/unet-weights.ts"
import type { ModelFactory } from "../src/ml/sampling/generate.ts"
import { guidanceEvals, type GuidanceOptions } from "../src/ml/sampling/guidance.ts"
import { runnerFn, unetRunner } from "../src/ml/sampling/unet-runner.ts"
import { samplers } from "../src/ml/samplers/registry.ts"
import type { ControlBinding } from "./_control.ts"
import { cachedBatch, type DeepCachePlan, deepcachePlan, deepcacheRecord, isUNet } from "./_deepcache.ts"
import { type Sampled, sampleWith, type SamplingParams, withGuidance } from "./_sampling.ts"

/**
 * What the per-batch factory wraps around the U-Net, each part optional and planned (checked) before any
 * sampling: the DeepCache plan (nodes/_deepcache.ts), the ControlNet binding (nodes/_control.ts). A new
 * sampling-time wrapper adds its field here rather than a positional argument.
 */
export interface FactoryOptions {
  readonly deepcache?: DeepCachePlan | undefined
  readonly control?: ControlBinding | undefined
}

/**
 * The network of every batch. This is where sampling-time features compose, each from its own module,
 * innermost first: the U-Net through its runner (a ControlNet runner when a ControlNet is given), a
 * feature cache around the runner (DeepCache); classifier-free guidance goes around the result
 * (withGuidance). The batch's conditioning (labels, control images) rides in `cond`. The samplers see only
 * a ModelFn.
 */
export const unetFactory = (model: Model, o: FactoryOptions = {}): ModelFactory => {
  const runner = o.control?.runner(model) ?? (isUNet(model) ? unetRunner(model) : undefined)
  // unetFromWeights and the ControlNet binding hand over U-Nets only: anything else is a wiring bug
  if (runner === undefined) throw new Error(`unetFactory: expected a U-Net, got a ${model.architecture}`)
  const fn = runnerFn(runner)
  const cache = o.deepcache
  return (b) => {
    const batch = o.control?.batch(b) ?? { cond: {}, dispose: () => {} }
    if (cache === undefined) return { fn, ...batch }
    const m = cachedBatch(runner, cache) // a fresh cache per batch, disposed with it
    return { fn: m.fn, cond: batch.cond, dispose: () => { m.dispose(); batch.dispose() } }
  }
}

/**
 * Samples the pixel-space model of `w` (or, with a ControlNet binding, the composite it acquires):
 * plans `p.deepcache` against it, wraps the runner in the binding, the cache and guidance, and returns
 * a cached run's deterministic cost record with the samples.
 */
export const sampleUNet = (
  w: Weights, meta: DiffusionMeta, p: SamplingParams, ctx: NodeContext, phase: string,
  o: { readonly guidance?: GuidanceOptions | undefined; readonly control?: ControlBinding | undefined } = {},
): Effect.Effect<Sampled, NodeError> =>
  sampleWith(o.control?.acquire ?? (() => unetFromWeights(w)), meta, p, ctx, phase, (model) => {
    const deepcache = deepcachePlan(model, p) // a U-Net, a branch it has, a plan that fits: checked before any step
    return {
      factory: withGuidance(o.guidance, unetFactory(model, { deepcache, control: o.control })),
      // a guided call of batch 2B runs every U-Net pass on two items: both MAC counts double, the ratio stays
      cost: deepcache === undefined ? undefined : deepcacheRecord(deepcache, samplers[p.sampler].evalsPerStep * guidanceEvals(p.guidance)),
    }
  })
