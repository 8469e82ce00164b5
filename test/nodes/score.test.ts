import t from "tap"
import * as tf from "@tensorflow/tfjs"
import loadMnist from "../../nodes/load-mnist.ts"
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

t.test("score: FLD with floor, classes, accuracy, pairwise metrics and meta/timing pass-through", async (t) => {
  const { dataset } = await runNode(loadMnist, {}, { limit: 300 })
  const real = slice(dataset, 0, 200)
  const realTrain = slice(dataset, 200, 300)
  const judge = createClassifier({ imageSize: 28, inChannels: 1, conv1: 4, conv2: 8, hidden: 16, numClasses: 10 }, 0)
  const classifier = modelToWeights(judge)
  disposeModel(judge)
  const samples: ImageBatch = { ...datasetToImageBatch(slice(dataset, 250, 300)), meta: { sampler: "ddim", steps: 20, seconds_per_image: 0.1 } }
  const timing = { scalars: { evals_per_image: 20, steps: 20 }, tables: {} }
  const { metrics } = await runNode(score, { images: samples, classifier, real, realTrain, referenceDataset: slice(dataset, 250, 300), timing }, { batchSize: 64 })
  const s = metrics.scalars
  t.same([s.samples, s.real_samples, s.floor_samples], [50, 200, 50])
  t.ok(s.fld! >= 0 && s.fld_floor! > 0)
  t.same([s.mse, s.psnr, s.ssim], [0, Infinity, 1], "identical to the reference")
  t.ok(s.accuracy! >= 0 && s.accuracy! <= 1)
  t.same([s.steps, s.seconds_per_image, s.evals_per_image], [20, 0.1, 20])
  t.same(metrics.tables.meta?.rows[0], ["sampler", "ddim"])
  const again = await runNode(score, { images: samples, classifier, real, realTrain, referenceDataset: slice(dataset, 250, 300), timing }, { batchSize: 64 })
  t.same(again.metrics, metrics, "deterministic")
  const fewer = await runNode(score, { images: samples, classifier, real, realTrain }, { realCount: 100, seed: 3 })
  t.equal(fewer.metrics.scalars.real_samples, 100, "realCount draws a seeded subset of the reference")
  t.notOk("psnr" in fewer.metrics.scalars)
  const noise = { ...samples, pixels: new Rng(1).uniforms(samples.pixels.length) }
  const n = await runNode(score, { images: noise, classifier, real, realTrain }, {})
  t.ok(n.metrics.scalars.fld! > 10 * s.fld_floor!, `noise ${n.metrics.scalars.fld} vs floor ${s.fld_floor}`)
  t.match((await failNode(score, { images: samples, classifier, real, reference: samples, referenceDataset: real }, {})).message, /at most one of reference/)
  t.match((await failNode(score, { images: { ...samples, height: 14, width: 56 }, classifier, real }, {})).message, /14x56x1 but the judge takes 28x28x1/)
})
