// DeepCache at the node boundary (the method: src/ml/sampling/deepcache.ts; its cost: src/ml/nn/unet-macs.ts):
// the `deepcache` param's checks against the model before any work (its schema: nodes/_deepcache-params.ts),
// the per-batch wrapper the sampling factory composes, and the deterministic cost record (full steps,
// multiply-adds per image, MAC speed-up over the uncached sampler) that sample artifacts carry.
import type { Static } from "@sinclair/typebox"
import { invalidInput } from "../src/ml/errors.ts"
import type { ControlledUNet } from "../src/ml/nn/controlnet.ts"
import type { Model } from "../src/ml/nn/model.ts"
import type { UNet } from "../src/ml/nn/unet.ts"
import { controlNetMacs, fullPassMacs, shallowPassMacs, unetMacs } from "../src/ml/nn/unet-macs.ts"
import { deepCache } from "../src/ml/sampling/deepcache.ts"
import { checkDeepCache, deepCacheDefaults, type DeepCacheConfig, type FullStepPlan, fullStepPlan, planMacs } from "../src/ml/sampling/deepcache-plan.ts"
import type { DeepCacheParam } from "./_deepcache-params.ts"
import type { BatchModel } from "../src/ml/sampling/generate.ts"
import type { UNetRunner } from "../src/ml/sampling/unet-runner.ts"


type WithDeepCache = { readonly steps: number; readonly deepcache?: Static<typeof DeepCacheParam> | undefined }

/** What one sampling call caches: the config, the full steps and the U-Net's pass costs. */
export interface DeepCachePlan {
  readonly config: DeepCacheConfig
  readonly plan: FullStepPlan
  readonly macs: { readonly full: number; readonly shallow: number }
}

/** Structural U-Net test (the pixel sampling factory uses it too). */
export const isUNet = (m: Model): m is UNet => m.architecture === "unet" && "params" in m && "branches" in m
// Structural, so this module does not import the ControlNet code (sampling nodes without one would
// then carry it in their code version).
const isControlled = (m: Model): m is ControlledUNet => m.architecture === "controlnet" && "base" in m && "control" in m && "config" in m

/**
 * The plan of `p.deepcache` for this model (undefined without one); throws MlError before any sampling.
 * A ControlNet composite caches its base's deep feature (which holds the deeper residuals of the full
 * step); its MACs add the ControlNet's pass: all of it on full steps, its stages down to the branch on
 * shallow ones (src/ml/nn/controlnet.ts controlNetRunner).
 */
export const deepcachePlan = (model: Model, p: WithDeepCache): DeepCachePlan | undefined => {
  if (p.deepcache === undefined) return undefined
  const composite = isControlled(model) ? model : undefined
  const unet = composite?.base ?? model
  if (!isUNet(unet)) throw invalidInput(`deepcache needs a U-Net; this model is a ${model.architecture} (DeepCache caches a U-Net's skip-branch features)`)
  const config: DeepCacheConfig = { ...deepCacheDefaults, ...p.deepcache }
  checkDeepCache(config, unet.branches)
  const m = unetMacs(unet.config)
  const extra = (upTo?: number): number => (composite === undefined ? 0 : controlNetMacs(m, composite.config, upTo))
  return {
    config,
    plan: fullStepPlan(p.steps, config),
    macs: { full: fullPassMacs(m) + extra(), shallow: shallowPassMacs(m, config.branch) + extra(config.branch + 1) },
  }
}

/** One batch's cached model function and its clean-up (a fresh cache per batch). */
export const cachedBatch = (runner: UNetRunner, c: DeepCachePlan): Pick<BatchModel, "fn" | "dispose"> => {
  const m = deepCache(runner, c.config.branch, c.plan)
  return { fn: m.fn, dispose: m.dispose }
}

/**
 * The record entries of a cached sampling run (all deterministic): the config, full / shallow steps,
 * multiply-adds per image and the MAC speed-up over the same sampler uncached. `evalsPerItem` is the
 * U-Net passes per image per step (the sampler's evaluations, x2 under guidance: a batch of 2B).
 */
export const deepcacheRecord = (c: DeepCachePlan, evalsPerItem: number): Record<string, string | number> => {
  const macs = planMacs(c.plan, evalsPerItem, c.macs)
  const uncached = evalsPerItem * c.plan.steps * c.macs.full
  return {
    deepcache_interval: c.config.interval,
    deepcache_branch: c.config.branch,
    deepcache_schedule: c.config.schedule,
    ...(c.plan.power === null ? {} : { deepcache_center: c.config.center, deepcache_power: c.plan.power }),
    full_steps: c.plan.full.length,
    shallow_steps: c.plan.steps - c.plan.full.length,
    macs_per_image: macs,
    macs_per_image_uncached: uncached,
    mac_speedup: uncached / macs,
  }
}
