// The `deepcache` param of the sampling nodes (schema and label suffix) without the U-Net machinery of
// nodes/_deepcache.ts: every sampling node's schema has it (sample-latent rejects it at run time), and
// importing only this keeps U-Net files out of a latent node's code version.
import { type Static, Type } from "@sinclair/typebox"
import { deepCacheDefaults } from "../src/ml/sampling/deepcache-plan.ts"

export const DeepCacheParam = Type.Object(
  {
    interval: Type.Integer({
      minimum: 1,
      description: "N of the 1:N strategy: a full U-Net pass, then up to N - 1 steps that reuse its deep feature. 1 = every step full (bit-identical to no deepcache).",
    }),
    branch: Type.Integer({
      minimum: 0,
      default: deepCacheDefaults.branch,
      description: "Skip branch whose deep feature is cached: 0 = the shallowest (the cheapest shallow pass; the paper's best trade-off) .. the U-Net's branches - 1.",
    }),
    schedule: Type.Union([Type.Literal("uniform"), Type.Literal("non-uniform")], {
      default: deepCacheDefaults.schedule,
      description: "uniform: steps 0, N, 2N, ... are full. non-uniform: ceil(steps / N) full steps crowded around `center` (the paper's non-uniform 1:N).",
    }),
    center: Type.Integer({
      minimum: 0,
      default: deepCacheDefaults.center,
      description: "non-uniform only: the step index (0 = the first, noisiest step) the full steps crowd around (the reference's 15).",
    }),
    power: Type.Number({
      exclusiveMinimum: 1,
      default: deepCacheDefaults.power,
      description: "non-uniform only: how tightly they crowd (> 1; lowered in 0.02 steps until the full steps are distinct; the reference's 1.4).",
    }),
  },
  {
    additionalProperties: false,
    description: "DeepCache (Ma et al. 2024): reuse the U-Net's deep feature across sampling steps (U-Net models only). See README \"DeepCache\".",
  },
)

/** Spread into the sampling nodes' params: the optional `deepcache` object. */
export const deepcacheParams = { deepcache: Type.Optional(DeepCacheParam) }

/** The label suffix of a cached run ("-CACHE-5", "-CACHE-5-NU"; the grid titles take digits, A-Z and "-"). */
export const deepcacheLabel = (d: Static<typeof DeepCacheParam> | undefined): string =>
  d === undefined ? "" : `-CACHE-${d.interval}${d.schedule === "non-uniform" ? "-NU" : ""}${d.branch === deepCacheDefaults.branch ? "" : `-B${d.branch}`}`
