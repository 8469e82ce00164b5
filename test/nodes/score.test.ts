import t from "tap"
import * as tf from "@tensorflow/tfjs"
import loadMnist from "../../nodes/load-mnist.ts"
import referenceFeatures from "../../nodes/reference-features.ts"
import score from "../../nodes/score.ts"
import { datasetToImageBatch } from "../../src/artifacts/index.ts"
import type { Dataset, ImageBatch } from "../../src/artifacts/types.ts"
import { createClassifier } from "../../src/ml/nn/classifier.ts"
import { disposeModel, modelToWeights } from "../../src/ml/nn/model.ts"
import { Rng } from "../../src/ml/random.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await tf.setBackend("cpu")

const slice = (d: Dataset, from: number, to: number): Dataset => ({
  ...d, count: to - from, images: d.images.slice(from * 784, to * 784), labels: d.labels.slice(from, to),
})
const judgeWeights = (seed: number) => {
  const judge = createClassifier({ imageSize: 28, inChannels: 1, conv1: 4, conv2: 8, hidden: 16, numClasses: 10 }, seed)
  const w = modelToWeights(judge)
  disposeModel(judge)
  return w
}

t.test("score: FLD ± SE with floor, classes, accuracy, pairwise metrics and meta/timing pass-through", async (t) => {
  const { dataset } = await runNode(loadMnist, {}, { limit: 300 })
  const classifier = judgeWeights(0)
  const ref = await runNode(referenceFeatures, { classifier, real: slice(dataset, 0, 200), train: slice(dataset, 200, 300) }, { floorPool: 80 })
  t.same([ref.real.shape, ref.floor.shape], [[200, 16], [80, 16]], "reference features [N, hidden]")
  const samples: ImageBatch = { ...datasetToImageBatch(slice(dataset, 250, 300)), meta: { sampler: "ddim", steps: 20, seconds_per_image: 0.1 } }
  const timing = { scalars: { evals_per_image: 20, steps: 20 }, tables: {} }
  const inputs = { images: samples, classifier, real: ref.real, floor: ref.floor, referenceDataset: slice(dataset, 250, 300), timing }
  const { metrics } = await runNode(score, inputs, { batchSize: 64, bootstrap: 20 })
  const s = metrics.scalars
  t.same([s.samples, s.real_samples, s.floor_samples], [50, 200, 50])
  t.ok(s.fld! >= 0 && s.fld_floor! > 0 && s.fld_se! > 0 && s.fld_floor_se! > 0)
  t.ok(s.class_share_max_dev! >= 0 && s.floor_class_share_max_dev! >= 0)
  t.same([s.mse, s.psnr, s.ssim], [0, Infinity, 1], "identical to the reference")
  t.ok(s.accuracy! >= 0 && s.accuracy! <= 1)
  t.same([s.steps, s.seconds_per_image, s.evals_per_image], [20, 0.1, 20])
  t.same(metrics.tables.meta?.rows[0], ["sampler", "ddim"])
  const again = await runNode(score, inputs, { batchSize: 64, bootstrap: 20 })
  t.same(again.metrics, metrics, "deterministic, bootstrap included")
  const noise = { ...samples, pixels: new Rng(1).uniforms(samples.pixels.length) }
  const n = await runNode(score, { images: noise, classifier, real: ref.real, floor: ref.floor }, {})
  t.ok(n.metrics.scalars.fld! > 10 * s.fld_floor!, `noise ${n.metrics.scalars.fld} vs floor ${s.fld_floor}`)
  t.notOk("psnr" in n.metrics.scalars)
  t.match((await failNode(score, { ...inputs, reference: samples }, {})).message, /at most one of reference/)
  t.match((await failNode(score, { ...inputs, images: { ...samples, height: 14, width: 56 } }, {})).message, /14x56x1 but the judge takes 28x28x1/)
  t.match((await failNode(score, { ...inputs, floor: ref.real }, {})).message, /floor: connect reference-features.floor \(got a tensor with set=real\)/)
  t.match((await failNode(score, { ...inputs, classifier: judgeWeights(1) }, {})).message, /real: these features come from another judge/)
  const small = await runNode(referenceFeatures, { classifier, real: slice(dataset, 0, 200), train: slice(dataset, 200, 300) }, { floorPool: 20 })
  t.match((await failNode(score, { ...inputs, floor: small.floor }, {})).message, /floor needs 50 real train images .* pool has 20: raise floorPool/)
})
