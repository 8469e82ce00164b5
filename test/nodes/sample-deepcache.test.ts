// The `deepcache` param of the sampling nodes: the cached images and their cost record, identity where
// nothing can be reused, and the errors that come before any sampling.
import t from "tap"
import { Value } from "@sinclair/typebox/value"
import { Effect } from "effect"
import * as tf from "@tensorflow/tfjs"
import sample from "../../nodes/sample.ts"
import sampleLatent from "../../nodes/sample-latent.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainLatentDiffusion from "../../nodes/train-latent-diffusion.ts"
import type { Dataset, Latents, Weights } from "../../src/artifacts/types.ts"
import type { NodeContext } from "../../src/node.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { fullPassMacs, shallowPassMacs, unetMacs } from "../../src/ml/nn/unet-macs.ts"
import { decodeUNetConfig } from "../../src/ml/nn/unet.ts"
import { deepCacheDefaults } from "../../src/ml/sampling/deepcache-plan.ts"
import { Rng } from "../../src/ml/random.ts"
import type { Static } from "@sinclair/typebox"
import type { DeepCacheParam } from "../../nodes/_deepcache-params.ts"
import { failNode, fakeCtx, runNode, withDefaults } from "./data-node-helpers.ts"

await selectBackend()

const dataset: Dataset = {
  count: 4, height: 8, width: 8, channels: 1,
  images: Uint8Array.from({ length: 256 }, (_, i) => ((i >> 3) + i) % 3 === 0 ? 255 : 0), labels: new Uint8Array(4),
}
const tiny = { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16, steps: 2, batchSize: 4 } // 2 branches
const ddpmModel: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, T: 40 })).model
const rfModel: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, objective: "rectified-flow" })).model
const latents: Latents = { count: 4, dim: 2, values: new Rng(1).normals(8), mean: new Float32Array(2), std: new Float32Array(2).fill(1), labels: null }
const latentModel: Weights = (await runNode(trainLatentDiffusion, { latents }, { mlpWidth: 8, mlpDepth: 1, steps: 1 })).model
const macs = unetMacs(decodeUNetConfig(ddpmModel.config))
type DeepCache = Static<typeof DeepCacheParam>
const dc = (o: Pick<DeepCache, "interval"> & Partial<DeepCache>): DeepCache => ({ ...deepCacheDefaults, ...o })
const mse = (a: Float32Array, b: Float32Array): number => a.reduce((s, v, i) => s + (v - b[i]!) ** 2, 0) / a.length

t.test("a cached run records its plan and exact MACs; its images differ from the uncached ones", async (t) => {
  const base = await runNode(sample, { model: ddpmModel }, { sampler: "ddim", steps: 10, count: 4, batchSize: 4 })
  const before = tf.memory().numTensors
  const { images, timing } = await runNode(sample, { model: ddpmModel }, { sampler: "ddim", steps: 10, count: 4, batchSize: 3, deepcache: dc({ interval: 3 }) })
  t.equal(tf.memory().numTensors, before, "model, runner and both batches' caches are released")
  const full = fullPassMacs(macs)
  const shallow = shallowPassMacs(macs, 0)
  const cached = 4 * full + 6 * shallow // steps 0, 3, 6, 9 full
  t.match(images.meta, { label: "DDIM-10-CACHE-3", deepcache_interval: 3, deepcache_branch: 0, deepcache_schedule: "uniform", full_steps: 4, shallow_steps: 6, macs_per_image: cached, macs_per_image_uncached: 10 * full })
  t.equal(images.meta.mac_speedup, (10 * full) / cached)
  t.notOk("deepcache_center" in images.meta, "center and power belong to the non-uniform schedule")
  t.notOk("full_steps" in base.images.meta, "an uncached run's record is unchanged")
  t.equal(timing.scalars.mac_speedup, (10 * full) / cached)
  t.ok(timing.scalars.seconds_per_image! > 0)
  const e = mse(images.pixels, base.images.pixels)
  t.ok(e > 0 && e < 0.1, `close to, not equal to, the uncached samples (MSE ${e})`)
  const nu = await runNode(sample, { model: ddpmModel }, { sampler: "ddim", steps: 10, count: 4, batchSize: 4, deepcache: dc({ interval: 3, schedule: "non-uniform" }) })
  t.match(nu.images.meta, { label: "DDIM-10-CACHE-3-NU", deepcache_schedule: "non-uniform", deepcache_center: 15, deepcache_power: 1.4, full_steps: 4 })
  t.end()
})

t.test("interval 1, or 1 sampling step: bit-identical images and a MAC speed-up of exactly 1", async (t) => {
  for (const [model, sampler] of [[ddpmModel, "ddpm"], [ddpmModel, "ddim"], [rfModel, "rf-euler"], [rfModel, "rf-midpoint"]] as const) {
    for (const steps of [1, 4]) {
      const base = await runNode(sample, { model }, { sampler, steps, count: 3 })
      for (const deepcache of steps === 1 ? [dc({ interval: 2 }), dc({ interval: 128, schedule: "non-uniform" })] : [dc({ interval: 1, branch: 1 })]) {
        const { images } = await runNode(sample, { model }, { sampler, steps, count: 3, deepcache })
        t.same(images.pixels, base.images.pixels, `${sampler}-${steps} ${JSON.stringify(deepcache)}`)
        t.equal(images.meta.mac_speedup, 1)
        t.equal(images.meta.full_steps, steps)
        t.equal(mse(images.pixels, base.images.pixels), 0)
      }
    }
  }
  t.end()
})

t.test("under classifier-free guidance (one U-Net call of batch 2B): interval 1 is the guided sampler, a cached run counts both halves", async (t) => {
  const labelled: Dataset = { ...dataset, labels: Uint8Array.from([0, 1, 2, 0]) }
  const conditional = (await runNode(trainDiffusion, { dataset: labelled }, { ...tiny, T: 40, numClasses: 3, conditioning: "channel" })).model
  const guided = { sampler: "ddim", steps: 6, count: 3, labels: "each-class", guidance: 3 } as const
  const base = await runNode(sample, { model: conditional }, guided)
  const same = await runNode(sample, { model: conditional }, { ...guided, deepcache: dc({ interval: 1 }) })
  t.same(same.images.pixels, base.images.pixels, "interval 1: bit-identical guided samples")
  const before = tf.memory().numTensors
  const { images } = await runNode(sample, { model: conditional }, { ...guided, deepcache: dc({ interval: 3 }) })
  t.equal(tf.memory().numTensors, before)
  const m = unetMacs(decodeUNetConfig(conditional.config))
  t.match(images.meta, { full_steps: 2, evals_per_image: 12, macs_per_image: 2 * (2 * fullPassMacs(m) + 4 * shallowPassMacs(m, 0)), macs_per_image_uncached: 2 * 6 * fullPassMacs(m) })
  t.same(Array.from(images.labels!), [0, 1, 2])
  t.ok(mse(images.pixels, base.images.pixels) > 0)
  t.end()
})

t.test("errors before any sampling: a branch the U-Net lacks, a model that is not a U-Net, interval < 1", async (t) => {
  const progress: unknown[] = []
  const ctx: NodeContext = { ...fakeCtx, progress: (e) => progress.push(e) }
  const params = (deepcache: DeepCache) => ({ steps: 4, count: 2, deepcache })
  t.match((await Effect.runPromise(Effect.flip(sample.run({ model: ddpmModel }, withDefaults(sample.params, params(dc({ interval: 2, branch: 2 }))), ctx)))).message, /deepcache branch 2 does not exist: this U-Net has branches 0..1/)
  t.match((await Effect.runPromise(Effect.flip(sampleLatent.run({ model: latentModel }, withDefaults(sampleLatent.params, params(dc({ interval: 2 }))), ctx)))).message, /deepcache needs a U-Net; this model is a latent-mlp/)
  t.same(progress, [], "no sampling step ran")
  t.match((await failNode(sample, { model: ddpmModel }, { steps: 10, deepcache: dc({ interval: 2, schedule: "non-uniform", center: 5 }) })).message, /no power in \(1, 1.4\]/)
  t.notOk(Value.Check(sample.params, withDefaults(sample.params, { deepcache: dc({ interval: 0 }) })), "the schema rejects interval 0 at validation")
  t.ok(Value.Check(sample.params, withDefaults(sample.params, { deepcache: { interval: 1 } as DeepCache })))
  t.notOk(Value.Check(sample.params, withDefaults(sample.params, { deepcache: { ...dc({ interval: 2 }), brnach: 1 } as DeepCache })), "unknown keys are rejected")
  t.end()
})
