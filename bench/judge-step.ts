// The judge's training step cost at several batch sizes: wall and CPU time per step (CPU time is the
// load-independent number on a shared machine). npx tsx bench/judge-step.ts 64,128,256
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { createClassifier, defaultClassifierConfig, crossEntropy } from "../src/ml/nn/classifier.ts"
import { Adam, trainStep } from "../src/ml/nn/optim.ts"
import { Rng } from "../src/ml/random.ts"
import { loadavg } from "node:os"

await selectBackend()
for (const B of (process.argv[2] ?? "64,128,256").split(",").map(Number)) {
  const model = createClassifier(defaultClassifierConfig, 0)
  const opt = new Adam({ lr: 1e-3 })
  const rng = new Rng(1)
  const x = tf.tensor4d(rng.uniforms(B * 784), [B, 28, 28, 1])
  const y = Int32Array.from({ length: B }, (_, i) => i % 10)
  const step = () => trainStep(model, () => { const l = model.logits(x); l.dataSync(); return crossEntropy(l, y) }, opt)
  for (let i = 0; i < 3; i++) step()
  const n = Math.max(5, Math.round(1280 / B))
  const c0 = process.cpuUsage(); const t0 = performance.now()
  for (let i = 0; i < n; i++) step()
  const wall = (performance.now() - t0) / n; const c = process.cpuUsage(c0); const cpu = (c.user + c.system) / 1000 / n
  console.log(`B=${B} wall ${wall.toFixed(1)} ms/step (${(B / wall * 1000).toFixed(0)} img/s) cpu ${cpu.toFixed(1)} ms/step (${(B / cpu * 2000).toFixed(0)} img/s if 2 idle cores) load ${(loadavg()[0] ?? 0).toFixed(1)}`)
  opt.dispose(); x.dispose()
}
