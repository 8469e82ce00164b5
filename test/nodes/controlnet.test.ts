// The ControlNet nodes end to end on 8x8 toys: train-controlnet on a train-diffusion base, sample with
// it (DDIM, DDPM, rf-euler; with guidance on a class-conditional base), score-control, the
// edge-regression baseline and the comparison grid.
import t from "tap"
import * as tf from "@tensorflow/tfjs"
import canny from "../../nodes/canny.ts"
import controlGrid from "../../nodes/control-grid.ts"
import regressEdges from "../../nodes/regress-edges.ts"
import sample from "../../nodes/sample.ts"
import scoreControl from "../../nodes/score-control.ts"
import trainControlnet, { processOf } from "../../nodes/train-controlnet.ts"
import trainDiffusion from "../../nodes/train-diffusion.ts"
import trainEdgeRegression from "../../nodes/train-edge-regression.ts"
import type { Dataset, Weights } from "../../src/artifacts/types.ts"
import { selectBackend } from "../../src/ml/backend/index.ts"
import { decodePng } from "../../src/ml/image/png.ts"
import { weightsDigest } from "../../src/ml/nn/model.ts"
import { decodeUNetConfig } from "../../src/ml/nn/unet.ts"
import { readDiffusionMeta } from "../../src/ml/diffusion-meta.ts"
import { fullPassMacs, shallowPassMacs, unetMacs } from "../../src/ml/nn/unet-macs.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await selectBackend()

// 8 blobby 8x8 "digits" (a bright rectangle at a per-item place), labels 0..7, and their Canny edges
const images = new Uint8Array(8 * 64)
for (let i = 0; i < 8; i++) for (let y = 1 + (i % 3); y < 5 + (i % 3); y++) for (let x = 1 + (i % 4); x < 4 + (i % 4); x++) images[i * 64 + y * 8 + x] = 255
const dataset: Dataset = { count: 8, height: 8, width: 8, channels: 1, images, labels: Uint8Array.from([0, 1, 2, 3, 4, 5, 6, 7]) }
const edges: Dataset = (await runNode(canny, { dataset }, {})).dataset
const tiny = { baseChannels: 8, channelMults: [1, 2], timeEmbedDim: 16, steps: 2, batchSize: 4 }
const base: Weights = (await runNode(trainDiffusion, { dataset }, { ...tiny, T: 40 })).model
const cnParams = { steps: 2, batchSize: 4, hintChannels: [4], warmupSteps: 0 }
const { model: controlnet, history } = await runNode(trainControlnet, { base, dataset, edges }, cnParams)

t.test("train-controlnet: weights of the ControlNet only, naming the base by digest, with the base's diffusion metadata", (t) => {
  t.equal(controlnet.architecture, "controlnet")
  t.ok(controlnet.variables.every((v) => v.name.startsWith("control.")), "only control.* variables")
  t.ok(controlnet.variables.some((v) => v.name === "control.zero.mid.weight") && controlnet.variables.some((v) => v.name === "control.zero.1.weight"))
  t.match(controlnet.config, { base: { digest: weightsDigest(base) }, skips: [0, 1], middle: true, hintChannels: [4], controlChannels: 1, diffusion: { objective: "ddpm", space: "pixel" } })
  t.equal(history.scalars.steps, 2)
  t.ok(history.scalars.params! > 0 && Number.isFinite(history.scalars.final_loss))
  t.end()
})

t.test("train-controlnet trains on its base's target: ε for an ε base, v for a v-prediction base (whose metadata it carries)", async (t) => {
  t.match(processOf(readDiffusionMeta(base)), { objective: "ddpm", prediction: "eps" })
  const vBase = (await runNode(trainDiffusion, { dataset }, { ...tiny, T: 40, prediction: "v" })).model
  t.match(processOf(readDiffusionMeta(vBase)), { objective: "ddpm", prediction: "v" })
  const { model } = await runNode(trainControlnet, { base: vBase, dataset, edges }, cnParams)
  t.equal(readDiffusionMeta(model).prediction, "v", "sampling through the ControlNet converts v too")
  t.end()
})

t.test("train-controlnet: clear errors before any work", async (t) => {
  const other = { ...dataset, labels: dataset.labels.map((l) => 7 - l) }
  t.match((await failNode(trainControlnet, { base, dataset: other, edges }, cnParams)).message, /different labels/)
  t.match((await failNode(trainControlnet, { base, dataset, edges: { ...edges, count: 4, images: edges.images.subarray(0, 256), labels: edges.labels.subarray(0, 4) } }, cnParams)).message, /edges has 4 maps but dataset 8 images/)
  const big: Dataset = { ...dataset, height: 16, width: 16, count: 2, images: new Uint8Array(512), labels: new Uint8Array(2) }
  t.match((await failNode(trainControlnet, { base, dataset: big, edges: big }, cnParams)).message, /base was trained on 8x8x1 images, dataset images are 16x16x1/)
  t.match((await failNode(trainControlnet, { base: controlnet, dataset, edges }, cnParams)).message, /base must be a pixel-space U-Net/)
  t.match((await failNode(trainControlnet, { base, dataset, edges }, { ...cnParams, controlSkips: [0, 5] })).message, /control skip 5 does not exist: this U-Net has skips 0..1/)
  t.end()
})

t.test("sample with a ControlNet: samples carry the control images' labels (cycled) and the record; controlScale 0 is the base", async (t) => {
  const p = { sampler: "ddim", steps: 3, count: 6, batchSize: 4, seed: 1 } as const
  const c = await runNode(sample, { model: base, controlnet, control: edges }, { ...p, controlCount: 4 })
  t.same(Array.from(c.images.labels!), [0, 1, 2, 3, 0, 1], "labels of control i mod 4")
  t.match(c.images.meta, { control_scale: 1, control_count: 4, label: "DDIM-3" })
  const plain = await runNode(sample, { model: base }, p)
  t.equal(plain.images.labels, null)
  t.notOk("control_scale" in plain.images.meta)
  const zero = await runNode(sample, { model: base, controlnet, control: edges }, { ...p, controlScale: 0 })
  t.same(zero.images.pixels, plain.images.pixels, "controlScale 0: bit-identical to the base's samples")
  t.notSame(c.images.pixels, plain.images.pixels, "controlScale 1 differs")
  const ddpm = await runNode(sample, { model: base, controlnet, control: edges }, { ...p, sampler: "ddpm", steps: 4 })
  t.equal(ddpm.images.count, 6)
  t.end()
})

t.test("sample with a ControlNet on a rectified-flow base (rf-euler); rf-midpoint too", async (t) => {
  const rfBase = (await runNode(trainDiffusion, { dataset }, { ...tiny, objective: "rectified-flow" })).model
  const rfCn = (await runNode(trainControlnet, { base: rfBase, dataset, edges }, cnParams)).model
  t.match(rfCn.config, { diffusion: { objective: "rectified-flow" } })
  for (const sampler of ["rf-euler", "rf-midpoint"] as const) {
    const s = await runNode(sample, { model: rfBase, controlnet: rfCn, control: edges }, { sampler, steps: 2, count: 3 })
    t.same(Array.from(s.images.labels!), [0, 1, 2], sampler)
  }
  t.end()
})

t.test("sample with a ControlNet and classifier-free guidance on a class-conditional base", async (t) => {
  const condBase = (await runNode(trainDiffusion, { dataset }, { ...tiny, T: 40, conditioning: "embedding", numClasses: 8 })).model
  const condCn = (await runNode(trainControlnet, { base: condBase, dataset, edges }, cnParams)).model
  const p = { sampler: "ddim" as const, steps: 3, count: 4, batchSize: 4, seed: 1, labels: [4, 5, 6, 7] }
  const inputs = { model: condBase, controlnet: condCn, control: edges }
  const guided = await runNode(sample, inputs, { ...p, guidance: 3 })
  t.match(guided.images.meta, { guidance: 3, control_scale: 1, evals_per_image: 6 }, "one call of batch 2B per step: 2 evals")
  t.same(Array.from(guided.images.labels!), [4, 5, 6, 7], "the requested labels, not the control images'")
  // the edge maps ride through guidance's stacked batch [x; x]: both halves see them
  const guidedBase = await runNode(sample, { model: condBase }, { ...p, guidance: 3 })
  t.notSame(guided.images.pixels, guidedBase.images.pixels, "the ControlNet steers the guided sampler")
  const zero = await runNode(sample, inputs, { ...p, guidance: 3, controlScale: 0 })
  t.same(zero.images.pixels, guidedBase.images.pixels, "controlScale 0 under guidance: bit-identical to the guided base")
  const s1 = await runNode(sample, inputs, { ...p, guidance: 1 })
  const conditional = await runNode(sample, inputs, p)
  t.same(s1.images.pixels, conditional.images.pixels, "guidance 1 = the conditional composite")
  t.end()
})

t.test("DeepCache on the ControlNet composite: interval 1 is the uncached sampler, controlScale 0 is the cached base, MACs add the ControlNet's pass", async (t) => {
  const p = { sampler: "ddim", steps: 6, count: 4, batchSize: 3, seed: 1 } as const
  const inputs = { model: base, controlnet, control: edges }
  const dc = (interval: number) => ({ deepcache: { interval, branch: 0, schedule: "uniform" as const, center: 15, power: 1.4 } })
  const uncached = await runNode(sample, inputs, p)
  const one = await runNode(sample, inputs, { ...p, ...dc(1) })
  t.same(one.images.pixels, uncached.images.pixels, "interval 1: bit-identical to the uncached composite")
  const before = tf.memory().numTensors
  const cached = await runNode(sample, inputs, { ...p, ...dc(3) })
  t.equal(tf.memory().numTensors, before, "composite, runner and every batch's cache are released")
  t.notSame(cached.images.pixels, uncached.images.pixels)
  const zero = await runNode(sample, inputs, { ...p, ...dc(3), controlScale: 0 })
  const plainCached = await runNode(sample, { model: base }, { ...p, ...dc(3) })
  t.same(zero.images.pixels, plainCached.images.pixels, "controlScale 0: bit-identical to the cached base")
  // Hand count of the ControlNet's part (8x8 images, base 8 channels x [1, 2], hint [4], skips 0 and 1,
  // a middle residual): hint convs 1->4 and 4->8 at 8x8 (3x3), 1x1 zero convs on skip 0 (8x8x8),
  // skip 1 (4x4x16) and the middle (4x4x16); the copy's embedding, conv_in and encoder stages are the base's.
  const m = unetMacs(decodeUNetConfig(base.config))
  const hint = 64 * 9 * 1 * 4 + 64 * 9 * 4 * 8
  const zeroConv = (size: number, ch: number) => size * size * ch * ch
  const cnFull = hint + m.embed + m.convIn + m.encoder[0]! + m.encoder[1]! + m.middle + zeroConv(8, 8) + zeroConv(4, 16) + zeroConv(4, 16)
  const cnShallow = hint + m.embed + m.convIn + m.encoder[0]! + zeroConv(8, 8) // branch 0: stage 0 and its residual only
  const full = fullPassMacs(m) + cnFull
  const shallow = shallowPassMacs(m, 0) + cnShallow
  t.match(cached.images.meta, { label: "DDIM-6-CACHE-3", control_scale: 1, full_steps: 2, shallow_steps: 4, macs_per_image: 2 * full + 4 * shallow, macs_per_image_uncached: 6 * full })
  t.equal(cached.images.meta.mac_speedup, (6 * full) / (2 * full + 4 * shallow))
  t.end()
})

t.test("sample: ControlNet inputs are checked before any work", async (t) => {
  const p = { steps: 2, count: 2 }
  t.match((await failNode(sample, { model: base, controlnet }, p)).message, /a `controlnet` needs `control` images/)
  t.match((await failNode(sample, { model: base, control: edges }, p)).message, /`control` images need a `controlnet`/)
  t.match((await failNode(sample, { model: controlnet, controlnet, control: edges }, p)).message, /`model` is a ControlNet: connect its base U-Net to `model`/)
  const otherBase = (await runNode(trainDiffusion, { dataset }, { ...tiny, T: 40, seed: 5 })).model
  t.match((await failNode(sample, { model: otherBase, controlnet, control: edges }, p)).message, /trained on the base with weights digest [0-9a-f]{12}, but the base given has [0-9a-f]{12}/)
  const big: Dataset = { ...edges, height: 16, width: 16, count: 2, images: new Uint8Array(512), labels: new Uint8Array(2) }
  t.match((await failNode(sample, { model: base, controlnet, control: big }, p)).message, /control images are 16x16x1, but this ControlNet takes 8x8x1/)
  t.end()
})

t.test("score-control: edge F1 of the edges themselves is 1; diversity with several samples per map; L1 to the originals", async (t) => {
  const asImages = { count: 8, height: 8, width: 8, channels: 1, pixels: Float32Array.from(images, (v) => v / 255), labels: dataset.labels, meta: {} }
  const self = (await runNode(scoreControl, { images: asImages, control: edges, original: dataset }, {})).metrics.scalars
  t.match(self, { edge_f1: 1, edge_f1_exact: 1, edge_precision: 1, edge_recall: 1, maps: 8, l1: 0 })
  t.notOk("diversity" in self, "one sample per map: no diversity")
  const blank = { ...asImages, pixels: new Float32Array(8 * 64) }
  t.match((await runNode(scoreControl, { images: blank, control: edges }, {})).metrics.scalars, { edge_f1: 0, edge_recall: 0 })
  const s = await runNode(sample, { model: base, controlnet, control: edges }, { steps: 2, count: 8, controlCount: 4 })
  const m = (await runNode(scoreControl, { images: s.images, control: edges, original: dataset }, {})).metrics.scalars
  t.match(m, { maps: 4, samples: 8, samples_per_map: 2, control_scale: 1 })
  t.ok(m.diversity! > 0 && m.edge_f1! >= 0 && m.edge_f1! <= 1 && m.l1! > 0, JSON.stringify(m))
  t.match((await failNode(scoreControl, { images: s.images, control: { ...edges, count: 2 } }, {})).message, /control has 2 images, but the samples cycle through 4 edge maps/)
  t.end()
})

t.test("edge regression: trains with L1, regresses held-out maps with their labels; the grid shows four columns", async (t) => {
  const { model, history: h } = await runNode(trainEdgeRegression, { dataset, edges }, { steps: 3, batchSize: 4, baseChannels: 8, channelMults: [1, 2] })
  t.equal(model.architecture, "edge-regression")
  t.ok(Number.isFinite(h.scalars.final_l1) && h.scalars.final_l1! > 0)
  const r = await runNode(regressEdges, { model, edges }, { count: 5 })
  t.same([r.images.count, Array.from(r.images.labels!)], [5, [0, 1, 2, 3, 4]])
  t.ok(r.images.pixels.every((v) => v >= 0 && v <= 1))
  t.match((await failNode(regressEdges, { model: base, edges }, {})).message, /expected an edge regression/)
  t.match((await failNode(trainEdgeRegression, { dataset, edges: { ...edges, labels: edges.labels.map((l) => l + 1) } }, { steps: 1 })).message, /different labels/)
  const s = await runNode(sample, { model: base, controlnet, control: edges }, { steps: 2, count: 4 })
  const { png } = await runNode(controlGrid, { edges, samples: s.images, regression: r.images, original: dataset }, { rows: 1, cols: 4, scale: 1, padding: 1, labels: false })
  const img = decodePng(png.bytes, 1)
  t.same([img.width, img.height], [4 * 4 * 8 + 5, 8 + 2], "4 items of 4 images of 8 px, 5 paddings")
  t.end()
})

t.test("same inputs, same ControlNet weights (seeded)", async (t) => {
  const again = (await runNode(trainControlnet, { base, dataset, edges }, cnParams)).model
  t.equal(weightsDigest(again), weightsDigest(controlnet))
  const other = (await runNode(trainControlnet, { base, dataset, edges }, { ...cnParams, seed: 1 })).model
  t.not(weightsDigest(other), weightsDigest(controlnet))
  t.end()
})
