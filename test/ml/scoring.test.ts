import t from "tap"
import * as tf from "@tensorflow/tfjs"
import { tableFromIPC, tableToIPC } from "apache-arrow"
import loadMnist from "../../nodes/load-mnist.ts"
import { MetricsType, datasetToImageBatch } from "../../src/artifacts/index.ts"
import type { ImageBatch } from "../../src/artifacts/types.ts"
import { createClassifier } from "../../src/ml/nn/classifier.ts"
import { disposeModel } from "../../src/ml/nn/model.ts"
import { Rng } from "../../src/ml/random.ts"
import { type FeatureSet, type ImageSet, judgeFingerprint, metaMetrics, pairwiseMetrics, scoreImages, subsetDataset } from "../../src/ml/scoring.ts"
import type { ClassifierModel } from "../../src/ml/nn/classifier.ts"
import { classify } from "../../src/ml/training/classifier.ts"
import { modelToWeights } from "../../src/ml/nn/model.ts"
import { runNode } from "../nodes/data-node-helpers.ts"

await tf.setBackend("cpu")

const featuresOf = (judge: ClassifierModel, x: ImageSet): FeatureSet => ({ count: x.count, features: classify(judge, x.pixels, x.count, 100).features })

const rows = (x: ImageSet, from: number, to: number): ImageBatch => ({
  count: to - from, height: x.height, width: x.width, channels: x.channels,
  pixels: x.pixels.slice(from * 784, to * 784), labels: x.labels === null ? null : x.labels.slice(from, to), meta: {},
})

t.test("pairwise metrics: identical images give MSE 0, PSNR Infinity, SSIM 1; a constant shift of 0.1 gives PSNR 20 dB", (t) => {
  const rng = new Rng(3)
  const a: ImageBatch = { count: 2, height: 16, width: 16, channels: 1, pixels: rng.uniforms(512, 0.2, 0.8), labels: null, meta: {} }
  const same = pairwiseMetrics(a, a, 2)
  t.same([same.mse, same.psnr], [0, Infinity])
  t.ok(Math.abs(same.ssim - 1) < 1e-12)
  const shifted = { ...a, pixels: a.pixels.map((v) => v + 0.1) }
  const p = pairwiseMetrics(a, shifted, 2)
  t.ok(Math.abs(p.mse - 0.01) < 1e-8, `mse ${p.mse}`)
  t.ok(Math.abs(p.psnr - 20) < 1e-5, `psnr ${p.psnr}`)
  t.ok(p.ssim < 1 && p.ssim > 0.9, `ssim ${p.ssim}`)
  t.throws(() => pairwiseMetrics(a, { ...a, height: 8, width: 32 }, 2), /reference images are 8x32x1/)
  t.end()
})

t.test("metaMetrics: numbers become scalars, everything goes to the key/value table; Infinity survives the codec", (t) => {
  const m = metaMetrics({ sampler: "ddim", steps: 20, seconds_per_image: 0.25 })
  t.same(m.scalars, { seconds_per_image: 0.25, steps: 20 })
  t.same(m.table.rows, [["sampler", "ddim"], ["seconds_per_image", 0.25], ["steps", 20]])
  const back = MetricsType.decode(tableFromIPC(tableToIPC(MetricsType.encode({ scalars: { psnr: Infinity }, tables: { meta: m.table } }), "file")))
  t.equal(back.scalars.psnr, Infinity)
  t.end()
})

t.test("FLD with a fixed random-init judge: real vs real is near the floor, noise is far above it", async (t) => {
  const { dataset } = await runNode(loadMnist, {}, { limit: 600 })
  const all = datasetToImageBatch(dataset)
  const real = rows(all, 0, 300)
  const samples = rows(all, 300, 450)
  const floor = rows(all, 450, 600)
  // A small LeNet at its seeded init: features are a fixed random map, enough to tell digits from noise.
  const judge = createClassifier({ imageSize: 28, inChannels: 1, conv1: 4, conv2: 8, hidden: 16, numClasses: 10 }, 0)
  const o = { batchSize: 100, bootstrap: 20, seed: 0 }
  const ref = { real: featuresOf(judge, real), floor: featuresOf(judge, floor) }
  const digits = scoreImages(judge, { images: { ...samples, meta: { steps: 10, sampler: "ddim" } }, ...ref, passThrough: { steps: 99, seconds_per_image: 0.5 } }, o)
  const noise = scoreImages(judge, { images: { ...samples, pixels: new Rng(1).uniforms(150 * 784), labels: null }, ...ref }, o)
  const s = digits.scalars
  t.equal(s.samples, 150)
  t.equal(s.floor_samples, 150)
  t.equal(s.real_samples, 300)
  t.ok(s.fld! > 0 && s.fld_floor! > 0)
  t.ok(s.fld! < 2 * s.fld_floor!, `real vs real ${s.fld} near the floor ${s.fld_floor}`)
  t.ok(noise.scalars.fld! > 20 * s.fld_floor!, `noise ${noise.scalars.fld} far above the floor ${s.fld_floor}`)
  t.equal(noise.scalars.fld_floor, s.fld_floor, "the floor does not depend on the samples")
  t.equal(noise.scalars.fld_floor_se, s.fld_floor_se, "nor does its standard error")
  t.ok(s.fld_se! > 0 && s.fld_se! < s.fld!, `fld ${s.fld} ± ${s.fld_se}`)
  t.ok(s.fld_floor_se! > 0, `floor ${s.fld_floor} ± ${s.fld_floor_se}`)
  const fractions = Array.from({ length: 10 }, (_, k) => s[`class_${k}`]!)
  t.ok(Math.abs(fractions.reduce((a, b) => a + b, 0) - 1) < 1e-12, "class fractions sum to 1")
  t.equal(s.class_share_max_dev, Math.max(...fractions.map((f) => Math.abs(f - 0.1))), "class balance from the histogram")
  t.ok(s.floor_class_share_max_dev! >= 0 && s.floor_class_share_max_dev! <= 0.9)
  t.ok(s.accuracy! >= 0 && s.accuracy! <= 1, "accuracy reported when labels are present")
  t.notOk("accuracy" in noise.scalars, "no accuracy without labels")
  t.same([s.steps, s.seconds_per_image], [10, 0.5], "batch meta beats pass-through; pass-through kept otherwise")
  t.same(digits.tables.meta?.rows, [["sampler", "ddim"], ["steps", 10]])
  const again = scoreImages(judge, { images: samples, ...ref }, { ...o, batchSize: 64 })
  t.equal(again.scalars.fld, s.fld, "batch size does not change the score")
  t.equal(again.scalars.fld_se, s.fld_se, "nor the seeded bootstrap")
  const reseeded = scoreImages(judge, { images: samples, ...ref }, { ...o, seed: 1 })
  t.not(reseeded.scalars.fld_se, s.fld_se, "another bootstrap seed, another standard error")
  t.equal(reseeded.scalars.fld, s.fld, "but the same FLD")
  const noSe = scoreImages(judge, { images: samples, ...ref }, { ...o, bootstrap: 0 })
  t.notOk("fld_se" in noSe.scalars || "fld_floor_se" in noSe.scalars, "bootstrap 0: no standard errors")
  const half = scoreImages(judge, { images: rows(samples, 0, 75), ...ref }, o)
  t.equal(half.scalars.floor_samples, 75, "the floor takes as many pool rows as there are samples")
  t.throws(() => scoreImages(judge, { images: samples, real: ref.real, floor: { count: 100, features: ref.floor.features.slice(0, 100 * 16) } }, o), /floor needs 150 real train images .* pool has 100/)
  t.throws(() => scoreImages(judge, { images: samples, real: { count: 300, features: ref.real.features.slice(0, 299 * 16) } }, o), /real features: 4784 values for 300 rows/)
  disposeModel(judge)
})

t.test("judgeFingerprint: same weights, same print; any changed value changes it", (t) => {
  const a = createClassifier({ imageSize: 28, inChannels: 1, conv1: 2, conv2: 2, hidden: 4, numClasses: 10 }, 0)
  const w = modelToWeights(a)
  disposeModel(a)
  t.equal(judgeFingerprint(w), judgeFingerprint(structuredClone(w)))
  const values = w.variables[0]!.values.slice()
  values[0] = values[0]! + 1e-6
  t.not(judgeFingerprint({ ...w, variables: [{ ...w.variables[0]!, values }, ...w.variables.slice(1)] }), judgeFingerprint(w))
  t.not(judgeFingerprint({ ...w, config: { ...w.config, hidden: 5 } }), judgeFingerprint(w))
  t.end()
})

t.test("accuracy against requested labels: a judge that always says 0", (t) => {
  const judge = createClassifier({ imageSize: 28, inChannels: 1, conv1: 2, conv2: 2, hidden: 4, numClasses: 10 }, 0)
  // fc2 bias makes class 0 win for every input.
  const fc2b = judge.variables.get("fc2.bias")!
  fc2b.assign(tf.tensor1d([1e6, 0, 0, 0, 0, 0, 0, 0, 0, 0]))
  const rng = new Rng(2)
  const images: ImageBatch = { count: 4, height: 28, width: 28, channels: 1, pixels: rng.uniforms(4 * 784), labels: Uint8Array.from([0, 0, 3, 0]), meta: {} }
  const real = featuresOf(judge, { ...images, pixels: rng.uniforms(4 * 784), labels: null })
  const o = { batchSize: 3, bootstrap: 0, seed: 0 }
  const m = scoreImages(judge, { images, real, reference: images }, o)
  t.equal(m.scalars.accuracy, 0.75)
  t.equal(m.scalars.class_0, 1)
  t.equal(m.scalars.class_share_max_dev, 0.9, "every sample in one class of ten")
  t.same([m.scalars.mse, m.scalars.psnr, m.scalars.ssim], [0, Infinity, 1])
  t.notOk("fld_floor" in m.scalars, "no floor without floor images")
  t.throws(() => scoreImages(judge, { images: { ...images, count: 1, pixels: images.pixels.slice(0, 784), labels: null }, real }, o), /at least 2 samples/)
  disposeModel(judge)
  t.end()
})

t.test("subsetDataset: seeded, without replacement, rows intact", (t) => {
  const x = { count: 5, height: 2, width: 2, channels: 1, images: Uint8Array.from({ length: 20 }, (_, i) => Math.floor(i / 4)), labels: Uint8Array.from([0, 1, 2, 3, 4]) }
  const a = subsetDataset(x, 3, new Rng(4))
  const b = subsetDataset(x, 3, new Rng(4))
  t.same(Array.from(a.labels), Array.from(b.labels))
  t.equal(new Set(a.labels).size, 3)
  t.ok(Array.from(a.labels).every((l, k) => a.images.subarray(k * 4, (k + 1) * 4).every((v) => v === l)))
  t.equal(subsetDataset(x, 10, new Rng(4)).count, 5)
  t.end()
})
