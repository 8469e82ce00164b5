import t from "tap"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import trainVae from "../../nodes/train-vae.ts"
import { decodePng } from "../../src/ml/image/png.ts"
import { vaeFromWeights } from "../../src/ml/nn/vae.ts"
import { disposeModel } from "../../src/ml/nn/model.ts"
import type { NodeContext, ProgressEvent } from "../../src/node.ts"
import { failNode, runNode, withDefaults } from "./data-node-helpers.ts"
import { squares, tinyVaeParams } from "./vae-node-helpers.ts"

await tf.setBackend("cpu")
const dataset = squares(32, 0)

t.test("train-vae: weights rebuild, metrics, recon grid; deterministic for a seed", async (t) => {
  const a = await runNode(trainVae, { dataset }, tinyVaeParams)
  const b = await runNode(trainVae, { dataset }, tinyVaeParams)
  const c = await runNode(trainVae, { dataset }, { ...tinyVaeParams, seed: 1 })
  t.equal(a.vae.architecture, "vae")
  t.same(a.vae.config, { imageSize: 8, inChannels: 1, channels: [4, 8], latentDim: 3, groups: 4 })
  const m = vaeFromWeights(a.vae)
  t.equal(m.config.latentDim, 3)
  disposeModel(m)
  const same = a.vae.variables.every((v, i) => v.values.every((x, j) => Object.is(x, b.vae.variables[i]!.values[j])))
  t.ok(same, "same seed, same weights")
  t.notOk(a.vae.variables.every((v, i) => v.values.every((x, j) => x === c.vae.variables[i]!.values[j])), "another seed, other weights")
  const s = a.metrics.scalars
  t.same([s.train_count, s.test_count], [24, 8], "seeded held-out split of 8")
  t.ok(s.test_recon! > 0 && s.test_kl! >= 0 && Number.isFinite(s.test_psnr!) && s.test_psnr! > 0)
  t.ok(Math.abs(s.test_loss! - (s.test_recon! + s.test_kl!)) < 1e-9)
  t.same(a.metrics.tables.curve?.columns, ["step", "epoch", "loss", "recon", "kl", "ema_loss"])
  t.equal(a.metrics.tables.curve?.rows.length, 2, "24 images / batch 16 = 2 steps, one row each")
  t.same(a.metrics, b.metrics)
  const png = decodePng(a.recon.bytes, 1)
  // 4 items of 2 images (8 px, scale 2) in one row, padding 2: 4 * 32 + 5 * 2 by 16 + 2 * 2
  t.same([a.recon.name, a.recon.mediaType, png.width, png.height], ["recon.png", "image/png", 138, 20])
})

t.test("train-vae: progress events, test input, interruption and config errors", async (t) => {
  const events: ProgressEvent[] = []
  const ctx: NodeContext = { nodeId: "vae", log: () => {}, interrupted: () => events.length >= 1, progress: (e) => events.push(e) }
  const p = withDefaults(trainVae.params, { ...tinyVaeParams, epochs: 3 })
  const err = await Effect.runPromise(Effect.flip(trainVae.run({ dataset }, p, ctx)))
  t.match(err.message, /interrupted before step 2/)
  t.same(events[0], { phase: "train", step: 1, total: 6, epoch: 1, metrics: events[0]!.metrics })
  t.ok(Number.isFinite(events[0]!.metrics!.loss!))
  const withTest = await runNode(trainVae, { dataset, test: squares(10, 1) }, { ...tinyVaeParams, testCount: 5 })
  t.same([withTest.metrics.scalars.train_count, withTest.metrics.scalars.test_count], [32, 5])
  t.match((await failNode(trainVae, { dataset }, { ...tinyVaeParams, channels: [8, 6] })).message, /6 is not a multiple of groups 4/)
  const twelve = { count: 4, height: 12, width: 12, channels: 1, images: new Uint8Array(4 * 144), labels: new Uint8Array(4) }
  t.match((await failNode(trainVae, { dataset: twelve }, { ...tinyVaeParams, channels: [4, 4, 4, 4] })).message, /not divisible by 8/)
  t.match((await failNode(trainVae, { dataset }, { ...tinyVaeParams, lr: 1e30 })).message, /loss is \w+ at step \d+/)
})

t.test("train-vae: lrDecay, klWarmupSteps and emaDecay reach the training; active dimensions are reported", async (t) => {
  const p = { ...tinyVaeParams, epochs: 2 }
  const digest = async (extra: object) => {
    const r = await runNode(trainVae, { dataset }, { ...p, ...extra })
    t.ok(Number.isInteger(r.metrics.scalars.test_active_dims) && r.metrics.scalars.test_active_dims! >= 0 && r.metrics.scalars.test_active_dims! <= 3)
    return JSON.stringify(r.vae.variables.map((v) => Array.from(v.values)))
  }
  const all = await Promise.all([{}, { lrDecay: "cosine" }, { klWarmupSteps: 3 }, { emaDecay: 0.5 }].map(digest))
  t.equal(new Set(all).size, 4, "each option gives other weights")
})
