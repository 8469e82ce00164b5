import t from "tap"
import * as tf from "@tensorflow/tfjs"
import type { DiffusionMeta } from "../../../src/ml/diffusion-meta.ts"
import { normalTensor } from "../../../src/ml/diffusion.ts"
import { Rng } from "../../../src/ml/random.ts"
import type { ModelFn } from "../../../src/ml/samplers/loop.ts"
import { samplers, type SamplerSettings } from "../../../src/ml/samplers/registry.ts"
import { linearDefaults, makeSchedule } from "../../../src/ml/schedules.ts"

await tf.setBackend("cpu")
const scheduleConfig = { ...linearDefaults, T: 200 }
const schedule = makeSchedule(scheduleConfig)
const epsMeta: DiffusionMeta = { objective: "ddpm", space: "pixel", itemShape: [4, 4, 1], schedule: scheduleConfig }
const vMeta: DiffusionMeta = { ...epsMeta, prediction: "v" }

/** A fixed fake ε-model, and the v-model that predicts the same thing: v = (ε - √(1-ᾱ) x) / √ᾱ. */
const epsModel: ModelFn = (x, t) => x.mul(0.5 + t / 800).tanh()
const vModel: ModelFn = (x, t, call) => {
  const a = schedule.abar[t]!
  return epsModel(x, t, call).sub(x.mul(Math.sqrt(1 - a))).div(Math.sqrt(a))
}

const run = (name: "ddim" | "ddpm", meta: DiffusionMeta, model: ModelFn, clipX0 = false): Float32Array => {
  const settings: SamplerSettings = { eta: 0.3, spacing: "trailing", variance: "posterior", clipX0 }
  const xStart = normalTensor(new Rng(7), [3, 4, 4, 1])
  const y = samplers[name].run(settings, meta, { steps: 20, model, xStart, rng: new Rng(8) })
  const out = y.dataSync() as Float32Array
  tf.dispose([y, xStart])
  return out
}
const maxAbsDiff = (a: Float32Array, b: Float32Array): number => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0)

t.test("a v-model sampled through its metadata gives the samples of the ε-model it is equivalent to (ddim, ddpm)", (t) => {
  for (const name of ["ddim", "ddpm"] as const) {
    const fromEps = run(name, epsMeta, epsModel)
    const fromV = run(name, vMeta, vModel)
    t.ok(maxAbsDiff(fromEps, fromV) < 1e-4, `${name}: max |diff| ${maxAbsDiff(fromEps, fromV)}`)
    const clipped = maxAbsDiff(run(name, epsMeta, epsModel, true), run(name, vMeta, vModel, true))
    t.ok(clipped < 1e-4, `${name}, x̂0 clipped: max |diff| ${clipped}`)
    // And the conversion is not a no-op: the same v-model read as an ε-model samples something else.
    t.ok(maxAbsDiff(fromEps, run(name, epsMeta, vModel)) > 0.1, `${name}: read as ε it differs`)
  }
  t.end()
})
