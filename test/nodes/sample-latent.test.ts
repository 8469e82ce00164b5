import t from "tap"
import sampleLatent from "../../nodes/sample-latent.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainLatentDiffusion from "../../nodes/train-latent-diffusion.ts"
import type { Dataset, Latents } from "../../src/artifacts/types.ts"
import { LatentsType } from "../../src/artifacts/index.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { Rng } from "../../src/ml/random.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await selectBackend()

const latents: Latents = {
  count: 32, dim: 3, values: new Rng(1).normals(96),
  mean: Float32Array.from([0.5, -1.25, Math.fround(0.1)]), std: Float32Array.from([2, Math.fround(0.3), 1]), labels: null,
}
const mlp = { mlpWidth: 16, mlpDepth: 2, steps: 3, batchSize: 8 } as const
const ddpmModel = (await runNode(trainLatentDiffusion, { latents }, { ...mlp, T: 100 })).model
const rfModel = (await runNode(trainLatentDiffusion, { latents }, { ...mlp, objective: "rectified-flow" })).model

t.test("latents carry the training latents' mean/std so decode can un-standardise them", async (t) => {
  for (const [model, sampler] of [[ddpmModel, "ddpm"], [ddpmModel, "ddim"], [rfModel, "rf-euler"]] as const) {
    const { latents: z, timing } = await runNode(sampleLatent, { model }, { sampler, steps: 5, count: 7, batchSize: 3, seed: 4 })
    t.same([z.count, z.dim, z.values.length, z.labels], [7, 3, 21, null], sampler)
    t.same(z.mean, latents.mean, `${sampler}: mean bit-exact`)
    t.same(z.std, latents.std, `${sampler}: std bit-exact`)
    t.ok(z.values.every(Number.isFinite))
    t.match(timing.scalars, { steps: 5, count: 7, evals_per_image: 5 })
    t.same(LatentsType.decode(LatentsType.encode(z)), z, "the codec keeps all of it")
  }
  t.end()
})

t.test("same seed, same latents; latent DDIM does not clip x0 by default", async (t) => {
  const run = (seed: number, clipX0?: boolean) =>
    runNode(sampleLatent, { model: ddpmModel }, { sampler: "ddim", steps: 10, count: 4, seed, ...(clipX0 === undefined ? {} : { clipX0 }) }).then((o) => o.latents.values)
  const a = await run(1)
  t.same(a, await run(1))
  t.notSame(a, await run(2))
  t.same(a, await run(1, false), "clipX0 defaults to false in latent space")
  t.end()
})

t.test("mismatches fail with a reason", async (t) => {
  t.match((await failNode(sampleLatent, { model: rfModel }, { sampler: "ddpm" })).message, /needs an ε-prediction model/)
  const dataset: Dataset = { count: 2, height: 8, width: 8, channels: 1, images: new Uint8Array(128), labels: new Uint8Array(2) }
  const pixel = (await runNode(trainDiffusion, { dataset }, { baseChannels: 8, channelMults: [1], timeEmbedDim: 8, steps: 1 })).model
  t.match((await failNode(sampleLatent, { model: pixel }, {})).message, /pixel-space model; sample it with sample$/)
  t.end()
})
