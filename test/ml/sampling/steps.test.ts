// A model-function wrapper sees the sampler's step index on every call, once per step (twice for
// rf-midpoint's two evaluations, with the same index), for every registered sampler, and the batch's
// conditioning; generate builds one network per batch and disposes it.
import t from "tap"
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-cpu"
import type { DiffusionMeta } from "../../../src/ml/diffusion-meta.ts"
import { generate } from "../../../src/ml/sampling/generate.ts"
import { samplerNames, samplers } from "../../../src/ml/samplers/registry.ts"
import { linearDefaults } from "../../../src/ml/schedules.ts"

await tf.setBackend("cpu")

t.test("every sampler hands each step index to the model function once per evaluation, in order", (t) => {
  for (const name of samplerNames) {
    const sampler = samplers[name]
    const meta: DiffusionMeta = sampler.objective === "ddpm"
      ? { objective: "ddpm", space: "latent", itemShape: [3], schedule: { ...linearDefaults, T: 50 } }
      : { objective: "rectified-flow", space: "latent", itemShape: [3] }
    const seen: { batch: number; step: number; label: number }[] = []
    const built: number[] = []
    const disposed: number[] = []
    const steps = 7
    const before = tf.memory().numTensors
    generate(meta, { sampler: name, steps, count: 5, batchSize: 3, seed: 1, settings: { eta: 0.3, spacing: "trailing", variance: "posterior", clipX0: false } }, (b) => {
      built.push(b.index)
      const labels = tf.fill([b.count], b.index, "int32") as tf.Tensor1D
      return {
        fn: (x, _t, call) => {
          seen.push({ batch: b.index, step: call.step, label: call.cond.labels!.dataSync()[0]! })
          return tf.zerosLike(x)
        },
        cond: { labels },
        dispose: () => {
          disposed.push(b.index)
          labels.dispose()
        },
      }
    })
    const per = sampler.evalsPerStep
    const expected = [0, 1].flatMap((batch) => Array.from({ length: steps * per }, (_, k) => ({ batch, step: Math.floor(k / per), label: batch })))
    t.same(seen, expected, `${name}: step indices 0..${steps - 1}, ${per} evaluation(s) each, per batch, with the batch's conditioning`)
    t.same([built, disposed], [[0, 1], [0, 1]], `${name}: one network per batch, disposed after it`)
    t.equal(tf.memory().numTensors, before, `${name}: no tensor left behind`)
  }
  t.end()
})
