import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { createLatentMlp, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import type { Model } from "../src/ml/nn/model.ts"
import { Adam, trainStep } from "../src/ml/nn/optim.ts"
import { Rng } from "../src/ml/random.ts"
await selectBackend()
const B = 256
const model = createLatentMlp(referenceMlpConfig, 0)
const rng = new Rng(1)
const x = tf.tensor2d(rng.normals(B * 16), [B, 16]), eps = tf.tensor2d(rng.normals(B * 16), [B, 16])
const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
const opt = new Adam({ lr: 1e-4 })
const loss = (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar
const step = () => trainStep(model, loss, opt)
for (let i = 0; i < 50; i++) step()
for (let r = 0; r < 3; r++) { const t0 = performance.now(); const c0 = process.cpuUsage(); for (let i = 0; i < 200; i++) step(); const c = process.cpuUsage(c0); console.log(`step ${((performance.now() - t0) / 200).toFixed(3)} ms wall, ${((c.user + c.system) / 1000 / 200).toFixed(3)} ms cpu`) }
const best = new Map<string, { ms: number; n: number }>()
let bestTotal = Infinity
for (let rep = 0; rep < 15; rep++) {
  const t0 = performance.now()
  const prof = await tf.profile(() => { step() })
  bestTotal = Math.min(bestTotal, performance.now() - t0)
  const by = new Map<string, { ms: number; n: number }>()
  for (const k of prof.kernels) {
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0
    const e = by.get(k.name) ?? { ms: 0, n: 0 }
    e.ms += ms; e.n++
    by.set(k.name, e)
  }
  for (const [k, e] of by) if (!best.has(k) || best.get(k)!.ms > e.ms) best.set(k, e)
}
let sum = 0
for (const [name, e] of [...best.entries()].sort((a, b) => b[1].ms - a[1].ms)) { if (!name.endsWith("__op")) sum += e.ms; console.log(name.padEnd(28), e.ms.toFixed(3).padStart(8), "ms", String(e.n).padStart(4)) }
console.log(`kernel sum ${sum.toFixed(3)} ms; best profiled step ${bestTotal.toFixed(3)} ms`)
