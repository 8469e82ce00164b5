// CPU time inside each addon function per train step (process.cpuUsage around every call), and the
// rest of the step (tfjs engine, JS kernels, GC), for the reference U-Net or the latent MLP:
//   PIPE_NATIVE_THREADS=1 PIPE_NATIVE_ISA=avx2 npx tsx bench/profile-addon.ts [--model unet|mlp]
// CPU time rather than wall: on a shared machine wall time mostly measures the neighbours.
import * as tf from "@tensorflow/tfjs"
import { loadAddon } from "../src/ml/backend/native.ts"
import { selectBackend } from "../src/ml/backend/index.ts"
import { createLatentMlp, referenceMlpConfig } from "../src/ml/nn/mlp.ts"
import type { Model } from "../src/ml/nn/model.ts"
import { Adam, trainStep } from "../src/ml/nn/optim.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { Rng } from "../src/ml/random.ts"

const cpuMs = (): number => {
  const u = process.cpuUsage()
  return (u.user + u.system) / 1000
}
const loaded = loadAddon()
if (!loaded.ok) throw new Error(loaded.reason)
const spent = new Map<string, { ms: number; n: number }>()
const addon = loaded.addon as unknown as Record<string, unknown>
for (const [name, f] of Object.entries(addon)) {
  if (typeof f !== "function" || ["setIsa", "isa", "chooseIsa", "cpuFeatures", "setThreads"].includes(name)) continue
  addon[name] = (...args: unknown[]) => {
    const t0 = cpuMs()
    const r = (f as (...a: unknown[]) => unknown)(...args)
    const e = spent.get(name) ?? { ms: 0, n: 0 }
    e.ms += cpuMs() - t0
    e.n++
    spent.set(name, e)
    return r
  }
}
process.env.PIPE_NATIVE_THREADS ??= "1"
const choice = await selectBackend()
console.log(choice.notes.at(-1))
const unet = (process.argv.includes("--model") ? process.argv[process.argv.indexOf("--model") + 1] : "mlp") === "unet"
const rng = new Rng(1)
const B = unet ? 64 : 256
const model = unet ? createUNet(referenceUNetConfig, 0) : createLatentMlp(referenceMlpConfig, 0)
const shape: number[] = unet ? [B, 28, 28, 1] : [B, 16]
const n = shape.reduce((a, c) => a * c, 1)
const x = tf.tensor(rng.normals(n), shape), eps = tf.tensor(rng.normals(n), shape)
const t = tf.tensor1d(Array.from({ length: B }, () => rng.int(1000)))
const opt = new Adam({ lr: 1e-4 })
const step = () => trainStep(model, (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, t)) as tf.Scalar, opt)
const steps = unet ? 3 : 300
for (let i = 0; i < (unet ? 2 : 50); i++) step()
let best: { total: number; rows: Array<[string, number]> } | undefined
for (let round = 0; round < 3; round++) {
  spent.clear()
  const t0 = cpuMs()
  for (let i = 0; i < steps; i++) step()
  const total = (cpuMs() - t0) / steps
  if (best === undefined || total < best.total) best = { total, rows: [...spent.entries()].map(([k, e]) => [k, e.ms / steps]) }
}
const native = best!.rows.reduce((a, [, ms]) => a + ms, 0)
console.log(`step ${best!.total.toFixed(3)} ms cpu: addon ${native.toFixed(3)} ms, rest ${(best!.total - native).toFixed(3)} ms`)
for (const [k, ms] of best!.rows.sort((p, q) => q[1] - p[1])) console.log(`  ${k.padEnd(22)} ${ms.toFixed(3)} ms`)
