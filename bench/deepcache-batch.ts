// DeepCache's wall-clock speed-up against the batch size: the reference U-Net (random weights: the cost
// does not depend on them), rf-euler or DDIM (eta 0, trailing, ddpm.yaml's linear T = 1000 schedule),
// uncached vs cached (branch 0, uniform N), interleaved rounds (each round times every batch size's
// pair, alternating their order), medians and min-max per batch. Sizes the timing batch of
// pipelines/deepcache.yaml (README "DeepCache").
//   npx tsx bench/deepcache-batch.ts [--sampler rf-euler|ddim] [--steps 10] [--interval 5] [--batches 64,128] [--rounds 4]
import { parseArgs } from "node:util"
import { selectBackend } from "../src/ml/backend/index.ts"
import { fullPassMacs, shallowPassMacs, unetMacs } from "../src/ml/nn/unet-macs.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { deepCache } from "../src/ml/sampling/deepcache.ts"
import { deepCacheDefaults, fullStepPlan, planMacs } from "../src/ml/sampling/deepcache-plan.ts"
import { generate } from "../src/ml/sampling/generate.ts"
import { median } from "../src/ml/sampling/timing.ts"
import { linearDefaults } from "../src/ml/schedules.ts"
import { runnerFn, unetRunner } from "../src/ml/sampling/unet-runner.ts"

const { values } = parseArgs({ options: { sampler: { type: "string", default: "rf-euler" }, steps: { type: "string", default: "10" }, interval: { type: "string", default: "5" }, batches: { type: "string", default: "64,128" }, rounds: { type: "string", default: "4" } } })
const steps = Number(values.steps)
const batches = values.batches.split(",").map(Number)
const rounds = Number(values.rounds)
const { backend } = await selectBackend()
const unet = createUNet(referenceUNetConfig, 0)
const runner = unetRunner(unet)
const plan = fullStepPlan(steps, { ...deepCacheDefaults, interval: Number(values.interval) })
const m = unetMacs(referenceUNetConfig)
const macs = { full: fullPassMacs(m), shallow: shallowPassMacs(m, 0) }
if (values.sampler !== "rf-euler" && values.sampler !== "ddim") throw new Error(`--sampler: rf-euler or ddim, got ${values.sampler}`)
const sampler = values.sampler
const meta = sampler === "ddim"
  ? ({ objective: "ddpm", space: "pixel", itemShape: [28, 28, 1], schedule: linearDefaults } as const)
  : ({ objective: "rectified-flow", space: "pixel", itemShape: [28, 28, 1] } as const)
const settings = { eta: 0, spacing: "trailing", variance: "posterior", clipX0: true } as const
const run = (batch: number, cached: boolean): number =>
  generate(meta, { sampler, settings, steps, count: batch, batchSize: batch, seed: 1 }, () => {
    if (!cached) return { fn: runnerFn(runner), cond: {}, dispose: () => {} }
    const c = deepCache(runner, 0, plan)
    return { fn: c.fn, cond: {}, dispose: c.dispose }
  }, { now: () => performance.now() / 1000 }).seconds

process.stdout.write(`${backend}, ${sampler}, ${steps} steps, N = ${values.interval} (${plan.full.length} full steps), MAC speed-up ${((steps * macs.full) / planMacs(plan, 1, macs)).toFixed(3)}\n`)
for (const b of batches) run(b, true) // warm-up
const ratios = new Map(batches.map((b) => [b, [] as number[]]))
for (let r = 0; r < rounds; r++) {
  for (const b of r % 2 === 0 ? batches : [...batches].reverse()) {
    const base = run(b, false)
    ratios.get(b)!.push(base / run(b, true))
    process.stdout.write(`round ${r} batch ${b}: uncached ${((base / (steps * b)) * 1000).toFixed(2)} ms per image-evaluation, speed-up ${ratios.get(b)!.at(-1)!.toFixed(3)}\n`)
  }
}
for (const [b, rs] of ratios) process.stdout.write(`batch ${b}: median speed-up ${median(rs).toFixed(3)} (${Math.min(...rs).toFixed(3)}-${Math.max(...rs).toFixed(3)})\n`)
