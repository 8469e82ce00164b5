import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { Adam, createLatentMlp, referenceMlpConfig, trainStep, type Model } from "../src/ml/nn/index.ts"
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
const prof = await tf.profile(() => { step() })
const by = new Map<string, { ms: number; n: number; shapes: string }>()
for (const k of prof.kernels) {
  const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0
  const e = by.get(k.name) ?? { ms: 0, n: 0, shapes: "" }
  e.ms += ms; e.n++
  if (e.shapes.length < 200) e.shapes += ` ${JSON.stringify(k.inputShapes)}`
  by.set(k.name, e)
}
console.log("kernels", prof.kernels.length)
for (const [name, e] of [...by.entries()].sort((a, b) => b[1].ms - a[1].ms)) console.log(name.padEnd(28), e.ms.toFixed(3).padStart(8), "ms", String(e.n).padStart(4), e.shapes.slice(0, 140))
