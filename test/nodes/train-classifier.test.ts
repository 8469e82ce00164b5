import t from "tap"
import * as tf from "@tensorflow/tfjs"
import trainClassifier from "../../nodes/train-classifier.ts"
import { classifierFromWeights } from "../../src/ml/nn/classifier.ts"
import { disposeModel } from "../../src/ml/nn/model.ts"
import { failNode, runNode } from "./data-node-helpers.ts"
import { squares } from "./vae-node-helpers.ts"

await tf.setBackend("cpu")

// No shifts by default here: the squares' positions are their labels.
const tiny = { conv1: 4, conv2: 8, hidden: 16, batchSize: 16, logEvery: 4, lr: 1e-2, augment: "none" as const }

t.test("train-classifier on synthetic 8x8 squares: learns, reports test accuracy, deterministic for a seed", async (t) => {
  const dataset = squares(64, 0)
  const test = squares(40, 1)
  const a = await runNode(trainClassifier, { dataset, test }, { ...tiny, epochs: 10 })
  const b = await runNode(trainClassifier, { dataset, test }, { ...tiny, epochs: 10 })
  t.equal(a.classifier.architecture, "lenet")
  t.same(a.classifier.config, { imageSize: 8, inChannels: 1, conv1: 4, conv2: 8, hidden: 16, numClasses: 10 })
  const m = classifierFromWeights(a.classifier)
  disposeModel(m)
  t.same(a.metrics, b.metrics, "same seed, same metrics")
  t.ok(a.classifier.variables.every((v, i) => v.values.every((x, j) => Object.is(x, b.classifier.variables[i]!.values[j]))), "and same weights")
  const curve = a.metrics.tables.curve!
  t.same(curve.columns, ["step", "epoch", "loss", "accuracy", "ema_loss"])
  t.equal(curve.rows.length, 10, "4 steps per epoch x 10 epochs, a row every 4 steps")
  t.ok(Number(curve.rows[9]![2]) < Number(curve.rows[0]![2]) - 1, `loss falls: ${curve.rows.map((r) => Number(r[2]).toFixed(2)).join(" ")}`)
  const s = a.metrics.scalars
  t.same([s.train_count, s.test_count], [64, 40])
  t.ok(s.test_accuracy! > 0.6, `test accuracy ${s.test_accuracy} well above chance (0.1)`)
  t.equal(a.metrics.tables.test_per_class?.rows.length, 10)
  const shifted = await runNode(trainClassifier, { dataset }, { ...tiny, epochs: 1, augment: "shift" })
  t.notOk("test_accuracy" in shifted.metrics.scalars, "no test input, no test accuracy")
  t.not(shifted.metrics.tables.curve!.rows[0]![2], curve.rows[0]![2], "augmentation changes the batches")
})

t.test("train-classifier: `steps` overrides epochs; warm-up + cosine changes the training, constant with no warm-up is the default", async (t) => {
  const dataset = squares(64, 0)
  const bySteps = await runNode(trainClassifier, { dataset }, { ...tiny, epochs: 10, steps: 6, logEvery: 2 })
  t.same(bySteps.metrics.tables.curve!.rows.map((r) => r[0]), [2, 4, 6], "6 steps, not 10 epochs x 4")
  const plain = await runNode(trainClassifier, { dataset }, { ...tiny, steps: 6, logEvery: 2, lrDecay: "constant", warmupSteps: 0 })
  t.same(plain.classifier.variables.map((v) => Array.from(v.values)), bySteps.classifier.variables.map((v) => Array.from(v.values)), "explicit defaults = omitted")
  const cosine = await runNode(trainClassifier, { dataset }, { ...tiny, steps: 6, logEvery: 2, lrDecay: "cosine", warmupSteps: 2 })
  t.same(cosine.metrics.tables.curve!.rows[0]!.slice(0, 2), bySteps.metrics.tables.curve!.rows[0]!.slice(0, 2), "same steps")
  t.not(cosine.metrics.tables.curve!.rows[2]![2], bySteps.metrics.tables.curve!.rows[2]![2], "a different lr path gives a different loss")
})

t.test("train-classifier rejects bad inputs", async (t) => {
  const odd = { ...squares(4, 0), height: 6, width: 6, images: new Uint8Array(4 * 36) }
  t.match((await failNode(trainClassifier, { dataset: odd }, tiny)).message, /side divisible by 4/)
  const bad = { ...squares(4, 0), labels: Uint8Array.from([0, 1, 12, 3]) }
  t.match((await failNode(trainClassifier, { dataset: bad }, tiny)).message, /label 12/)
})
