// deepcache-timing: the wall-clock side of the DeepCache study. Times one batch of uncached sampling
// and of every DeepCache configuration (intervals x schedules) of the same sampler, interleaved in this
// one process over `repeats` rounds (src/ml/sampling/timing.ts), and reports each configuration's
// median wall-clock speed-up next to its exact MAC speed-up (nodes/_deepcache.ts). Its only output is
// metrics: the samples themselves come from `sample` nodes, whose images never carry a wall clock.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { MetricsType, WeightsType } from "../src/artifacts/index.ts"
import { unetFromWeights } from "../src/ml/nn/unet-weights.ts"
import { deepCacheDefaults } from "../src/ml/sampling/deepcache-plan.ts"
import { generate } from "../src/ml/sampling/generate.ts"
import { timeInterleaved } from "../src/ml/sampling/timing.ts"
import { runnerFn, unetRunner } from "../src/ml/sampling/unet-runner.ts"
import { samplers } from "../src/ml/samplers/registry.ts"
import { ml, seconds, withModel } from "./_ml.ts"
import { DeepCacheParam } from "./_deepcache-params.ts"
import { cachedBatch, type DeepCachePlan, deepcachePlan, deepcacheRecord } from "./_deepcache.ts"
import { modelMeta, samplingParams } from "./_sampling.ts"

// The sampler's settings exactly as `sample` takes them (same names, defaults, descriptions); the study
// times unconditional U-Nets, so guidance and labels are not among them.
const { count: _count, batchSize: _batchSize, seed: _seed, deepcache: _deepcache, guidance: _guidance, labels: _labels, ...samplerSettings } = samplingParams({ clipX0: true }).properties
const { interval: _interval, schedule, ...cacheSettings } = DeepCacheParam.properties

const Params = Type.Object({
  ...samplerSettings,
  intervals: Type.Array(Type.Integer({ minimum: 1 }), {
    minItems: 1,
    default: [1, 2, 3, 4, 5, 8, 16, 32, 64, 128],
    description: "DeepCache intervals N to time (each with every schedule).",
  }),
  schedules: Type.Array(schedule, {
    minItems: 1,
    default: ["uniform"],
    description: "Schedules to time. The two do the same number of full and shallow passes for a given N, so one usually suffices.",
  }),
  ...cacheSettings,
  batchSize: Type.Integer({ minimum: 1, default: 128, description: "Images per timed run (one batch): the batch size of the sample nodes being compared." }),
  repeats: Type.Integer({ minimum: 3, default: 3, description: "Rounds; each times the uncached sampler and every configuration once. Speed-ups are medians over rounds." }),
  seed: Type.Integer({ default: 1, description: "Seed of the timed runs' noise." }),
})

const COLUMNS = [
  "interval", "schedule", "full_steps", "shallow_steps", "mac_speedup", "seconds_uncached", "seconds_cached", "wall_speedup", "wall_speedup_min", "wall_speedup_max", "wall_over_mac",
] as const

export default defineNode({
  kind: "deepcache-timing",
  description: "Wall-clock vs MAC speed-up of DeepCache configurations over the uncached sampler: interleaved runs of one batch, median of repeats.",
  params: Params,
  inputs: { model: WeightsType },
  outputs: { timing: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const meta = yield* ml("reading the model", () => modelMeta(inputs.model, "pixel"))
      return yield* withModel("loading the model", () => unetFromWeights(inputs.model), (unet) =>
        ml("timing", () => {
          // Every configuration is checked (branch, schedule fit) before any run.
          const configs = p.intervals.flatMap((interval) =>
            p.schedules.map((s): DeepCachePlan => deepcachePlan(unet, { steps: p.steps, deepcache: { interval, schedule: s, branch: p.branch, center: p.center, power: p.power } })!))
          const runner = unetRunner(unet)
          const plain = runnerFn(runner)
          const runs = p.repeats * (configs.length + 1)
          let done = 0
          const time = (c: DeepCachePlan | null, steps = p.steps): number =>
            generate(meta, { sampler: p.sampler, settings: p, steps, count: p.batchSize, batchSize: p.batchSize, seed: p.seed }, () =>
              c === null ? { fn: plain, cond: {}, dispose: () => {} } : { ...cachedBatch(runner, c), cond: {} }, { now: seconds, interrupted: ctx.interrupted }).seconds
          // Warm-up (untimed): first-call allocations of full and shallow passes at this batch size.
          time(null, Math.min(p.steps, 2))
          if (p.steps >= 2) time(deepcachePlan(unet, { steps: 2, deepcache: { ...deepCacheDefaults, branch: p.branch, interval: 2 } })!, 2)
          const result = timeInterleaved(configs, p.repeats, (c) => {
            const s = time(c)
            ctx.progress({ phase: "timing", step: ++done, total: runs })
            return s
          })
          const evals = samplers[p.sampler].evalsPerStep
          const rows = result.variants.map((v) => {
            const r = deepcacheRecord(v.variant, evals)
            const mac = r.mac_speedup as number
            return [v.variant.config.interval, v.variant.config.schedule, v.variant.plan.full.length, r.shallow_steps as number, mac, result.baselineMedian, v.medianSeconds, v.speedup, v.speedupMin, v.speedupMax, v.speedup / mac]
          })
          const raw = [
            ...result.baseline.map((s, r) => [r, "uncached", 0, s]),
            ...result.variants.flatMap((v) => v.seconds.map((s, r) => [r, v.variant.config.schedule, v.variant.config.interval, s])),
          ]
          return {
            timing: {
              scalars: { steps: p.steps, evals_per_step: evals, batch_size: p.batchSize, repeats: p.repeats, seconds_uncached: result.baselineMedian, deepcache_branch: p.branch },
              tables: { deepcache_timing: { columns: [...COLUMNS], rows }, runs: { columns: ["round", "schedule", "interval", "seconds"], rows: raw } },
            },
          }
        }))
    }),
})
