// Per-kernel time of one LeNet judge training step (batch 64) on the selected backend:
//   npx tsx bench/profile-judge.ts
// Finds the kernels that still run on tfjs-cpu's JavaScript (Equal, MaxPool, ...) for the judge.
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { createClassifier, defaultClassifierConfig } from "../src/ml/nn/classifier.ts"
import { Adam, trainStep } from "../src/ml/nn/optim.ts"
import { Rng } from "../src/ml/random.ts"

await selectBackend()
const model = createClassifier(defaultClassifierConfig, 0)
const opt = new Adam({ lr: 1e-3 })
const rng = new Rng(1)
const B = 64
const x = tf.tensor4d(rng.uniforms(B * 784), [B, 28, 28, 1])
const y = tf.oneHot(tf.tensor1d(Array.from({ length: B }, (_, i) => i % 10), "int32"), 10)
const step = () => trainStep(model, () => tf.losses.softmaxCrossEntropy(y, model.logits(x)) as tf.Scalar, opt)
for (let i = 0; i < 5; i++) step()
let t0 = performance.now()
for (let i = 0; i < 20; i++) step()
console.log(`step ${((performance.now() - t0) / 20).toFixed(1)} ms`)
const prof = await tf.profile(() => { step() })
const by = new Map<string, { ms: number; n: number; shapes: string }>()
for (const k of prof.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0
  const e = by.get(k.name) ?? { ms: 0, n: 0, shapes: "" }
  e.ms += ms; e.n++
  if (e.shapes.length < 200) e.shapes += ` ${JSON.stringify(k.inputShapes)}`
  by.set(k.name, e)
}
const rows = [...by.entries()].sort((a, b) => b[1].ms - a[1].ms)
for (const [name, e] of rows) console.log(name.padEnd(28), e.ms.toFixed(2).padStart(8), "ms", String(e.n).padStart(4), e.shapes.slice(0, 160))
