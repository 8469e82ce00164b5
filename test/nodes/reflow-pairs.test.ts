import t from "tap"
import reflowPairs from "../../nodes/reflow-pairs.ts"
import sampleLatent from "../../nodes/sample-latent.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainLatentDiffusion from "../../nodes/train-latent-diffusion.ts"
import { TensorType } from "../../src/artifacts/index.ts"
import type { Dataset, Latents } from "../../src/artifacts/types.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { Rng } from "../../src/ml/random.ts"
import { readReflowPairs } from "../../src/ml/reflow.ts"
import { startNoise } from "../../src/ml/sampling/generate.ts"
import { readDiffusionMeta } from "../../src/ml/diffusion-meta.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await selectBackend()

const latents: Latents = {
  count: 32, dim: 3, values: new Rng(1).normals(96), mean: Float32Array.from([1, 2, 3]), std: Float32Array.from([0.5, 1, 2]), labels: null,
}
const mlp = { objective: "rectified-flow", mlpWidth: 16, mlpDepth: 2, steps: 3, batchSize: 8 } as const
const rf = (await runNode(trainLatentDiffusion, { latents }, mlp)).model

t.test("pairs: x0 is the sampling seed's starting noise, x1 the sample the flow carried it to", async (t) => {
  const { pairs, timing } = await runNode(reflowPairs, { model: rf }, { steps: 4, count: 6, batchSize: 4, seed: 9 })
  t.same(pairs.shape, [6, 2, 3])
  t.match(pairs.meta, { kind: "reflow-pairs", space: "latent", sampler: "rf-midpoint", steps: "4" })
  t.notOk("seconds_per_image" in pairs.meta, "the pairs stay deterministic; the wall clock goes to `timing`")
  t.type(timing.scalars.seconds_per_image, "number")
  const r = readReflowPairs(TensorType.decode(TensorType.encode(pairs)))
  if (typeof r === "string") return t.fail(r)
  t.same(r.latent, { mean: [1, 2, 3], std: [0.5, 1, 2] })
  const x0 = startNoise(new Rng(9), 0, 6, 3)
  const { latents: z } = await runNode(sampleLatent, { model: rf }, { sampler: "rf-midpoint", steps: 4, count: 6, batchSize: 4, seed: 9 })
  for (let i = 0; i < 6; i++) {
    t.same(Array.from(r.data.subarray(6 * i, 6 * i + 3)), Array.from(x0.subarray(3 * i, 3 * i + 3)), `x0 of pair ${i}`)
    t.same(Array.from(r.data.subarray(6 * i + 3, 6 * i + 6)), Array.from(z.values.subarray(3 * i, 3 * i + 3)), `x1 of pair ${i}`)
  }
  t.end()
})

t.test("train-latent-diffusion on pairs: a reflowed flow that keeps the latents' mean/std; misuse fails clearly", async (t) => {
  const { pairs } = await runNode(reflowPairs, { model: rf }, { steps: 2, count: 16, seed: 1 })
  const { model, history } = await runNode(trainLatentDiffusion, { pairs }, { ...mlp, steps: 4 })
  const meta = readDiffusionMeta(model)
  if (typeof meta === "string") return t.fail(meta)
  t.same([meta.objective, meta.space, meta.itemShape, meta.latent], ["rectified-flow", "latent", [3], { mean: [1, 2, 3], std: [0.5, 1, 2] }])
  t.equal(history.scalars.steps, 4)
  t.match((await failNode(trainLatentDiffusion, { pairs }, { ...mlp, objective: "ddpm" })).message, /set objective: rectified-flow/)
  t.match((await failNode(trainDiffusion, { pairs }, { objective: "rectified-flow", steps: 1 })).message, /pairs are in latent space; train them with kind train-latent-diffusion/)
  t.match((await failNode(trainLatentDiffusion, { pairs, latents }, mlp)).message, /exactly one of `latents` and `pairs`/)
  const ddpm = (await runNode(trainLatentDiffusion, { latents }, { ...mlp, objective: "ddpm" })).model
  t.match((await failNode(reflowPairs, { model: ddpm }, {})).message, /reflow needs a rectified-flow model/)
  t.end()
})

t.test("pixel pairs train a U-Net", async (t) => {
  const dataset: Dataset = { count: 4, height: 8, width: 8, channels: 1, images: Uint8Array.from({ length: 256 }, (_, i) => (i % 7) * 30), labels: new Uint8Array(4) }
  const unet = { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16, objective: "rectified-flow" as const, steps: 1, batchSize: 4 }
  const pixelRf = (await runNode(trainDiffusion, { dataset }, unet)).model
  const { pairs } = await runNode(reflowPairs, { model: pixelRf }, { sampler: "rf-euler", steps: 2, count: 4 })
  t.same(pairs.shape, [4, 2, 8, 8, 1])
  const { model } = await runNode(trainDiffusion, { pairs }, unet)
  t.equal(model.architecture, "unet")
  t.same(readDiffusionMeta(model), { objective: "rectified-flow", space: "pixel", itemShape: [8, 8, 1] })
  t.end()
})
