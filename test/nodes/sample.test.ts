import t from "tap"
import { tableToIPC } from "apache-arrow"
import sample from "../../nodes/sample.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainLatentDiffusion from "../../nodes/train-latent-diffusion.ts"
import { ImageBatchType } from "../../src/artifacts/index.ts"
import type { Dataset, Latents, Weights } from "../../src/artifacts/types.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { decodePng } from "../../src/ml/image/png.ts"
import { Rng } from "../../src/ml/random.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await selectBackend()

const dataset: Dataset = {
  count: 4, height: 8, width: 8, channels: 1,
  images: Uint8Array.from({ length: 256 }, (_, i) => ((i >> 3) + i) % 3 === 0 ? 255 : 0), labels: new Uint8Array(4),
}
const tiny = { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16, steps: 2, batchSize: 4 }
const ddpmModel: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, T: 40 })).model
const rfModel: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, objective: "rectified-flow" })).model
const latents: Latents = { count: 4, dim: 2, values: new Rng(1).normals(8), mean: new Float32Array(2), std: new Float32Array(2).fill(1), labels: null }
const latentModel: Weights = (await runNode(trainLatentDiffusion, { latents }, { mlpWidth: 8, mlpDepth: 1, steps: 1 })).model

t.test("DDIM: image batch in [0, 1] with its sampling record, a grid PNG and timing metrics", async (t) => {
  const { images, grid, timing } = await runNode(sample, { model: ddpmModel }, { sampler: "ddim", steps: 4, count: 10, batchSize: 4, seed: 1 })
  t.same([images.count, images.height, images.width, images.channels, images.pixels.length], [10, 8, 8, 1, 640])
  t.ok(images.pixels.every((v) => v >= 0 && v <= 1))
  t.match(images.meta, { sampler: "ddim", label: "DDIM-4", steps: 4, objective: "ddpm", eta: 0, spacing: "trailing", clip_x0: 1, count: 10, evals_per_image: 4 })
  t.notOk("seconds_per_image" in images.meta, "the wall clock is not part of the images")
  t.equal(timing.scalars.steps, 4)
  t.ok(timing.scalars.seconds_per_image! > 0)
  t.same([grid.name, grid.mediaType], ["grid.png", "image/png"])
  const png = decodePng(grid.bytes, 1)
  t.ok(png.width > 8 * 8 * 2 && png.height > 2 * 8 * 2, `${png.width}x${png.height}: 8 columns, 2 rows, scaled x2, with a title`)
  t.end()
})

t.test("same seed, same pixels; deterministic samplers do not depend on batchSize", async (t) => {
  for (const [model, sampler] of [[ddpmModel, "ddpm"], [ddpmModel, "ddim"], [rfModel, "rf-euler"], [rfModel, "rf-midpoint"]] as const) {
    const run = (seed: number, batchSize: number) => runNode(sample, { model }, { sampler, steps: 3, count: 5, batchSize, seed }).then((o) => o.images.pixels)
    const a = await run(2, 2)
    t.same(a, await run(2, 2), `${sampler}: same seed`)
    t.notSame(a, await run(3, 2), `${sampler}: another seed`)
    if (sampler !== "ddpm") {
      const b = await run(2, 5)
      t.ok(a.every((v, i) => Math.abs(v - b[i]!) < 1e-4), `${sampler}: batch 2 vs 5`)
    }
  }
  t.end()
})

t.test("a rerun gives byte-equal images and grid (only the timing output differs)", async (t) => {
  const run = () => runNode(sample, { model: ddpmModel }, { sampler: "ddpm", steps: 5, count: 3 })
  const [a, b] = [await run(), await run()]
  t.same(Buffer.from(tableToIPC(ImageBatchType.encode(a.images), "file")), Buffer.from(tableToIPC(ImageBatchType.encode(b.images), "file")))
  t.same(Buffer.from(a.grid.bytes), Buffer.from(b.grid.bytes))
  t.end()
})

t.test("sampler and objective must agree; space and steps are checked", async (t) => {
  t.match((await failNode(sample, { model: ddpmModel }, { sampler: "rf-euler", steps: 2 })).message, /sampler rf-euler needs a velocity model \(objective rectified-flow\), but this model was trained with objective ddpm; use ddpm or ddim/)
  t.match((await failNode(sample, { model: rfModel }, { sampler: "ddim", steps: 2 })).message, /needs an ε-prediction model \(objective ddpm\).*use rf-euler or rf-midpoint/)
  t.match((await failNode(sample, { model: ddpmModel }, { sampler: "ddpm", steps: 41 })).message, /steps 41 > the model's T = 40/)
  t.match((await failNode(sample, { model: latentModel }, { steps: 2 })).message, /latent-space model; sample it with sample-latent/)
  t.end()
})

t.test("DDPM with all T steps and rf-midpoint record their own evals", async (t) => {
  const d = await runNode(sample, { model: ddpmModel }, { sampler: "ddpm", steps: 40, count: 2, variance: "beta" })
  t.match(d.images.meta, { label: "DDPM-40", variance: "beta", evals_per_image: 40 })
  t.notOk("eta" in d.images.meta)
  const m = await runNode(sample, { model: rfModel }, { sampler: "rf-midpoint", steps: 3, count: 2 })
  t.match(m.images.meta, { label: "RF-MIDPOINT-3", objective: "rectified-flow", evals_per_image: 6 })
  t.notOk("spacing" in m.images.meta)
  t.end()
})
