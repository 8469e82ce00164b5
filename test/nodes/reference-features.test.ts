import t from "tap"
import * as tf from "@tensorflow/tfjs"
import loadMnist from "../../nodes/load-mnist.ts"
import referenceFeatures from "../../nodes/reference-features.ts"
import score from "../../nodes/score.ts"
import { datasetToImageBatch } from "../../src/artifacts/index.ts"
import type { Dataset } from "../../src/artifacts/types.ts"
import { frechetDistance } from "../../src/ml/metrics/frechet.ts"
import { classifierFromWeights, createClassifier } from "../../src/ml/nn/classifier.ts"
import { disposeModel, modelToWeights } from "../../src/ml/nn/model.ts"
import { Rng } from "../../src/ml/random.ts"
import { featureStats, subsetDataset } from "../../src/ml/scoring.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

await tf.setBackend("cpu")

const slice = (d: Dataset, from: number, to: number): Dataset => ({
  ...d, count: to - from, images: d.images.slice(from * 784, to * 784), labels: d.labels.slice(from, to),
})

t.test("reference-features -> score gives the FLD and floor of the score path before the cache, to 1e-9 relative", async (t) => {
  const { dataset } = await runNode(loadMnist, {}, { limit: 700 })
  const real = slice(dataset, 0, 300)
  const train = slice(dataset, 300, 600)
  const samples = { ...datasetToImageBatch(slice(dataset, 600, 700)), meta: {} }
  const judge = createClassifier({ imageSize: 28, inChannels: 1, conv1: 4, conv2: 8, hidden: 16, numClasses: 10 }, 0)
  const classifier = modelToWeights(judge)
  disposeModel(judge)
  for (const { realCount, seed, n } of [{ realCount: 10000, seed: 0, n: 100 }, { realCount: 250, seed: 3, n: 60 }]) {
    // The score node before this change: a seeded subset of the test set (when realCount < its size) and
    // the first n of a seeded permutation of the train set, both featurised on every call.
    const model = classifierFromWeights(classifier)
    const rng = new Rng(seed)
    const refSet = datasetToImageBatch(real.count > realCount ? subsetDataset(real, realCount, rng.fork("real")) : real)
    const floorSet = datasetToImageBatch(subsetDataset(train, n, rng.fork("floor")))
    const images = { ...samples, count: n, pixels: samples.pixels.slice(0, n * 784), labels: null }
    const ref = featureStats(model, refSet, 500).stats
    const before = { fld: frechetDistance(featureStats(model, images, 500).stats, ref), fld_floor: frechetDistance(featureStats(model, floorSet, 500).stats, ref) }
    disposeModel(model)

    const cached = await runNode(referenceFeatures, { classifier, real, train }, { realCount, seed, floorPool: 200 })
    const s = (await runNode(score, { images, classifier, real: cached.real, floor: cached.floor }, { bootstrap: 0 })).metrics.scalars
    for (const k of ["fld", "fld_floor"] as const)
      t.ok(Math.abs(s[k]! - before[k]) <= 1e-9 * before[k], `${k} (realCount ${realCount}, n ${n}): ${s[k]} vs ${before[k]}`)
    t.equal(s.real_samples, Math.min(realCount, real.count))
  }
})

t.test("reference-features: deterministic, seeded, tagged with the judge; rejects images the judge cannot take", async (t) => {
  const { dataset } = await runNode(loadMnist, {}, { limit: 200 })
  const judge = createClassifier({ imageSize: 28, inChannels: 1, conv1: 2, conv2: 2, hidden: 4, numClasses: 10 }, 0)
  const classifier = modelToWeights(judge)
  disposeModel(judge)
  const inputs = { classifier, real: slice(dataset, 0, 100), train: slice(dataset, 100, 200) }
  const a = await runNode(referenceFeatures, inputs, { floorPool: 50 })
  t.same(await runNode(referenceFeatures, inputs, { floorPool: 50 }), a, "same inputs and params, same features")
  t.same([a.real.meta.set, a.floor.meta.set, a.real.meta.judge === a.floor.meta.judge], ["real", "floor", true])
  const b = await runNode(referenceFeatures, inputs, { floorPool: 50, seed: 1 })
  t.same(b.real, a.real, "the whole test set does not depend on the seed")
  t.notSame(b.floor.data, a.floor.data, "the floor pool's order does")
  const wide = await runNode(referenceFeatures, inputs, { floorPool: 500 })
  t.same(wide.floor.shape, [100, 4], "a pool larger than the train set is the whole set")
  const bad = { ...slice(dataset, 0, 10), height: 14, width: 56 }
  t.match((await failNode(referenceFeatures, { ...inputs, train: bad }, {})).message, /train images are 14x56x1 but the judge takes 28x28x1/)
})
