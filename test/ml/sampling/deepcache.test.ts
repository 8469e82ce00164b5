import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../../../src/ml/backend/index.ts"
import type { DiffusionMeta } from "../../../src/ml/diffusion-meta.ts"
import { isMlError } from "../../../src/ml/errors.ts"
import { disposeModel } from "../../../src/ml/nn/model.ts"
import { createUNet, type UNetConfig } from "../../../src/ml/nn/unet.ts"
import { deepCache } from "../../../src/ml/sampling/deepcache.ts"
import { checkDeepCache, deepCacheDefaults, fullStepPlan, type DeepCacheConfig } from "../../../src/ml/sampling/deepcache-plan.ts"
import { generate, type ModelFactory } from "../../../src/ml/sampling/generate.ts"
import { runnerFn, unetRunner, type UNetRunner } from "../../../src/ml/sampling/unet-runner.ts"
import type { SamplerName } from "../../../src/ml/samplers/registry.ts"
import { linearDefaults } from "../../../src/ml/schedules.ts"

await selectBackend() // pipe-native when built: each comparison below runs the same kernels on both sides

const tiny: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [4], dropout: 0,
  timeEmbedDim: 16, groups: 4, imageSize: 8,
}
const unet = createUNet(tiny, 7)
t.teardown(() => disposeModel(unet))
const runner = unetRunner(unet)

const metaOf = (sampler: SamplerName): DiffusionMeta =>
  sampler.startsWith("rf")
    ? { objective: "rectified-flow", space: "pixel", itemShape: [8, 8, 1] }
    : { objective: "ddpm", space: "pixel", itemShape: [8, 8, 1], schedule: { ...linearDefaults, T: 100 } }
const settings = { eta: 0, spacing: "trailing", variance: "posterior", clipX0: true } as const
const cfg = (interval: number, o: Partial<DeepCacheConfig> = {}): DeepCacheConfig => ({ ...deepCacheDefaults, interval, ...o })

/** A factory with a fresh cache per batch (as nodes/_sampling.ts builds it); counts what it built. */
const cachedFactory = (r: UNetRunner, c: DeepCacheConfig, steps: number, log: { batches: number; disposed: number } = { batches: 0, disposed: 0 }): ModelFactory => {
  const plan = fullStepPlan(steps, c)
  return () => {
    log.batches++
    const m = deepCache(r, c.branch, plan)
    return { fn: m.fn, cond: {}, dispose: () => { log.disposed++; m.dispose() } }
  }
}
const plain = (r: UNetRunner): ModelFactory => () => ({ fn: runnerFn(r), cond: {}, dispose: () => {} })
const sample = (sampler: SamplerName, steps: number, factory: ModelFactory, count = 3, batchSize = 3): Float32Array =>
  generate(metaOf(sampler), { sampler, settings, steps, count, batchSize, seed: 5 }, factory).values

/** A runner that records which kind of pass each call was, per step index (via the time input's order). */
const spy = (r: UNetRunner, log: string[]): UNetRunner => ({
  branches: r.branches,
  full: (x, tt, cond, keep) => { log.push(keep === undefined ? "F" : "K"); return r.full(x, tt, cond, keep) },
  shallow: (x, tt, cond, b, deep) => { log.push("s"); return r.shallow(x, tt, cond, b, deep) },
})

t.test("uniform plan: every N-th step from 0, ceil(steps / N) full steps", (t) => {
  t.same(fullStepPlan(10, cfg(3)).full, [0, 3, 6, 9])
  t.same(fullStepPlan(10, cfg(1)).full, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.same(fullStepPlan(10, cfg(128)).full, [0])
  t.same(fullStepPlan(1, cfg(5)).full, [0])
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 300 }), (steps, n) => {
    const f = fullStepPlan(steps, cfg(n)).full
    return f.length === Math.ceil(steps / n) && f.every((s, i) => s === i * n) && f.at(-1)! < steps
  })))
  t.end()
})

// Pinned from the reference's sample_from_quad_center (horseee/DeepCache, NumPy 2.4, CPython 3):
// k = ceil(steps / N) full steps; the last column is the power that gave k distinct steps.
const reference: readonly [steps: number, n: number, center: number, power: number, full: readonly number[], used: number][] = [
  [10, 2, 15, 1.4, [0, 3, 5, 7, 9], 1.4],
  [10, 3, 15, 1.4, [0, 3, 6, 8], 1.4],
  [10, 4, 15, 1.4, [0, 4, 8], 1.4],
  [10, 5, 15, 1.4, [0, 6], 1.4],
  [10, 8, 15, 1.4, [0, 6], 1.4],
  [10, 16, 15, 1.4, [0], 1.4],
  [100, 2, 15, 1.4, [0, 2, 3, 4, 6, 7, 8, 10, 11, 12, 14, 15, 16, 17, 19, 20, 22, 23, 25, 27, 29, 31, 32, 34, 36, 38, 40, 42, 45, 47, 49, 51, 53, 56, 58, 60, 63, 65, 68, 70, 73, 75, 78, 80, 83, 86, 88, 91, 94, 97], 1.4],
  [100, 3, 15, 1.4, [0, 2, 4, 6, 8, 10, 12, 14, 15, 17, 20, 22, 25, 27, 30, 33, 35, 38, 41, 44, 48, 51, 54, 58, 61, 65, 68, 72, 76, 80, 83, 87, 91, 95], 1.4],
  [100, 4, 15, 1.4, [0, 3, 6, 8, 11, 14, 16, 19, 22, 25, 29, 32, 36, 40, 45, 49, 53, 58, 63, 68, 73, 78, 83, 88, 94], 1.4],
  [100, 5, 15, 1.4, [0, 4, 7, 10, 14, 16, 20, 24, 29, 33, 38, 44, 49, 55, 60, 66, 73, 79, 86, 93], 1.4],
  [100, 8, 15, 1.4, [0, 6, 11, 15, 21, 27, 35, 42, 51, 60, 69, 79, 89], 1.4],
  [100, 16, 15, 1.4, [0, 10, 19, 31, 46, 62, 80], 1.4],
  [100, 32, 15, 1.4, [0, 16, 38, 66], 1.4],
  [100, 64, 15, 1.4, [0, 38], 1.4],
  [100, 128, 15, 1.4, [0], 1.4],
  [50, 5, 15, 1.4, [0, 5, 9, 13, 17, 21, 26, 31, 37, 43], 1.4],
  [20, 3, 15, 1.4, [0, 4, 8, 11, 14, 15, 17], 1.4],
  [100, 5, 30, 1.6, [0, 4, 8, 12, 16, 20, 24, 29, 32, 37, 41, 46, 51, 57, 62, 68, 74, 80, 86, 93], 1.6],
  [100, 4, 0, 1.4, [0, 1, 2, 5, 7, 10, 13, 16, 20, 23, 27, 31, 35, 40, 44, 48, 53, 58, 63, 68, 73, 78, 83, 88, 94], 1.4],
  [100, 4, 60, 1.3, [0, 5, 10, 15, 19, 24, 28, 32, 36, 40, 44, 48, 52, 55, 59, 61, 65, 69, 72, 76, 80, 83, 87, 91, 95], 1.3],
]

t.test("non-uniform plan: the reference's steps, including a lowered power", (t) => {
  for (const [steps, n, center, power, full, used] of reference) {
    const p = fullStepPlan(steps, cfg(n, { schedule: "non-uniform", center, power }))
    t.same(p.full, full, `steps ${steps}, N ${n}, center ${center}, power ${power}`)
    t.ok(Math.abs(p.power! - used) < 1e-9)
  }
  // 500 full steps in 1000 need the power lowered from 1.4 to 1.18 (merged indices at 1.4 .. 1.2).
  const p = fullStepPlan(1000, cfg(2, { schedule: "non-uniform" }))
  t.same([p.full.length, p.full.slice(0, 12), p.full.slice(-3)], [500, [0, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12], [992, 995, 997]])
  t.ok(Math.abs(p.power! - 1.18) < 1e-9)
  t.same(fullStepPlan(100, cfg(1, { schedule: "non-uniform" })).full, Array.from({ length: 100 }, (_, i) => i), "N = 1: every step full")
  t.end()
})

t.test("non-uniform plan: k = ceil(steps / N) distinct increasing steps from 0, or a teaching error", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(
    fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 64 }), fc.integer({ min: 0, max: 40 }), fc.double({ min: 1.05, max: 2.5, noNaN: true }),
    (steps, n, center, power) => {
      try {
        const f = fullStepPlan(steps, cfg(n, { schedule: "non-uniform", center, power })).full
        return f.length === Math.ceil(steps / n) && f[0] === 0 && f.every((s, i) => i === 0 || s > f[i - 1]!) && f.at(-1)! < steps
      } catch (e) {
        return isMlError(e) && /no power in/.test(e.message)
      }
    },
  )))
  t.end()
})

t.test("non-uniform plan: a center past the run never yields a full step at index steps (found by the property above)", (t) => {
  // Before the fix: steps 9, N 2, center 10, power 2.25 gave [0, 3, 5, 7, 9], step 9 of 0..8.
  const f = fullStepPlan(9, cfg(2, { schedule: "non-uniform", center: 10, power: 2.25 }))
  t.equal(f.full.length, 5)
  t.ok(f.full.every((s) => s < 9), JSON.stringify(f.full))
  t.ok(f.power! < 2.25, "a lower power is taken")
  t.end()
})

t.test("full/shallow pattern: the plan's full steps are full (all their evaluations), the rest shallow", (t) => {
  for (const [sampler, evals] of [["ddim", 1], ["rf-midpoint", 2]] as const) {
    for (const c of [cfg(3), cfg(4, { schedule: "non-uniform", center: 3 })]) {
      const steps = 10
      const log: string[] = []
      sample(sampler, steps, cachedFactory(spy(runner, log), c, steps), 2, 2)
      const full = new Set(fullStepPlan(steps, c).full)
      // A full step keeps the deep feature (K) exactly when the next step is shallow.
      const expected = Array.from({ length: steps }, (_, i) => (full.has(i) ? (i + 1 < steps && !full.has(i + 1) ? "K" : "F") : "s")).flatMap((k) => new Array<string>(evals).fill(k))
      t.same(log.join(""), expected.join(""), `${sampler}, ${c.schedule} N=${c.interval}: ${expected.join("")}`)
    }
  }
  t.end()
})

t.test("interval 1 is bit-identical to the uncached sampler (ddpm, ddim, rf-euler, rf-midpoint), branch any", (t) => {
  for (const sampler of ["ddpm", "ddim", "rf-euler", "rf-midpoint"] as const) {
    const base = sample(sampler, 4, plain(runner))
    for (const branch of [0, 1]) t.same(sample(sampler, 4, cachedFactory(runner, cfg(1, { branch }), 4)), base, `${sampler}, branch ${branch}`)
    t.same(sample(sampler, 4, cachedFactory(runner, cfg(1, { schedule: "non-uniform" }), 4)), base, `${sampler}, non-uniform`)
    t.notSame(sample(sampler, 4, cachedFactory(runner, cfg(2), 4)), base, `${sampler}: interval 2 does reuse features`)
  }
  t.end()
})

t.test("at 1 sampling step every interval and schedule is bit-identical to the uncached sampler", (t) => {
  for (const sampler of ["ddpm", "ddim", "rf-euler", "rf-midpoint"] as const) {
    const base = sample(sampler, 1, plain(runner))
    for (const n of [1, 2, 5, 128]) for (const schedule of ["uniform", "non-uniform"] as const) t.same(sample(sampler, 1, cachedFactory(runner, cfg(n, { schedule }), 1)), base)
  }
  t.end()
})

t.test("the cache lives for one batch: each batch starts full, is disposed, and no tensor leaks", (t) => {
  const log = { batches: 0, disposed: 0 }
  const kinds: string[] = []
  const before = tf.memory().numTensors
  // Batches of 3 and 2: a feature carried over would not even match the second batch's shape.
  const split = sample("rf-euler", 6, cachedFactory(spy(runner, kinds), cfg(3), 6, log), 5, 3)
  t.equal(tf.memory().numTensors, before, "no tensor left behind")
  t.same(log, { batches: 2, disposed: 2 })
  t.same(kinds.join(""), "KssKss".repeat(2), "each batch begins with a full step")
  const whole = sample("rf-euler", 6, cachedFactory(runner, cfg(3), 6), 5, 5)
  t.ok(split.every((v, i) => Math.abs(v - whole[i]!) < 1e-4), "a batch's samples do not depend on the batch before it")
  t.end()
})

t.test("a failing batch still releases its cache", (t) => {
  const before = tf.memory().numTensors
  const log = { batches: 0, disposed: 0 }
  let calls = 0
  const failing: UNetRunner = { ...runner, shallow: (...a) => { if (++calls === 2) throw new Error("boom"); return runner.shallow(...a) } }
  t.throws(() => sample("ddim", 6, cachedFactory(failing, cfg(3), 6, log), 2, 2), /boom/)
  t.same(log, { batches: 1, disposed: 1 })
  t.equal(tf.memory().numTensors, before)
  t.end()
})

t.test("errors: interval < 1, a branch the U-Net lacks, a power <= 1, no power that fits", (t) => {
  const message = (f: () => void): string => {
    try { f() } catch (e) { return isMlError(e) ? e.message : `not an MlError: ${String(e)}` }
    return "no error"
  }
  t.match(message(() => checkDeepCache(cfg(0), 2)), /interval must be an integer >= 1, got 0/)
  t.match(message(() => fullStepPlan(10, cfg(0))), /interval must be an integer >= 1/)
  t.match(message(() => checkDeepCache(cfg(2, { branch: 2 }), 2)), /branch 2 does not exist: this U-Net has branches 0..1/)
  t.match(message(() => checkDeepCache(cfg(2, { branch: -1 }), 2)), /branch -1 does not exist/)
  t.match(message(() => checkDeepCache(cfg(2, { power: 1 }), 2)), /power must be > 1/)
  t.match(message(() => fullStepPlan(10, cfg(2, { schedule: "non-uniform", center: 5 }))), /no power in \(1, 1.4\] spreads 5 distinct full steps over 10 steps around center 5/)
  t.doesNotThrow(() => checkDeepCache(cfg(2, { branch: 1 }), 2))
  t.end()
})
