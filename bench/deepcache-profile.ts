// Where a DeepCache shallow pass spends its time, against its MAC share: the reference U-Net (random
// weights), one full pass and one shallow pass (branch 0) at a batch size, per-kernel time from
// tf.profile summed by kernel name, and the wall ratio shallow/full next to the MAC ratio.
//   npx tsx bench/deepcache-profile.ts [--batch 128] [--reps 5]
import { parseArgs } from "node:util"
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { fullPassMacs, shallowPassMacs, unetMacs } from "../src/ml/nn/unet-macs.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { median } from "../src/ml/sampling/timing.ts"
import { unetRunner } from "../src/ml/sampling/unet-runner.ts"

const { values } = parseArgs({ options: { batch: { type: "string", default: "128" }, reps: { type: "string", default: "5" } } })
const B = Number(values.batch)
const reps = Number(values.reps)
const { backend } = await selectBackend()
const unet = createUNet(referenceUNetConfig, 0)
const runner = unetRunner(unet)
const m = unetMacs(referenceUNetConfig)
const x = tf.randomNormal([B, 28, 28, 1]) as tf.Tensor4D
const t = tf.fill([B], 0.5) as tf.Tensor1D
const { out, kept } = runner.full(x, t, {}, 0)
out.dispose()
const deep = kept as tf.Tensor4D
const full = () => runner.full(x, t, {}).out
const shallow = () => runner.shallow(x, t, {}, 0, deep)

const wall = (f: () => tf.Tensor): number => {
  const t0 = performance.now()
  const y = f()
  y.dataSync()
  y.dispose()
  return performance.now() - t0
}
for (let i = 0; i < 2; i++) (wall(full), wall(shallow))
const fw: number[] = []
const sw: number[] = []
for (let i = 0; i < reps; i++) (fw.push(wall(full)), sw.push(wall(shallow)))

const byKernel = async (f: () => tf.Tensor): Promise<Map<string, number>> => {
  const info = await tf.profile(() => f())
  const sums = new Map<string, number>()
  for (const k of info.kernels) sums.set(k.name, (sums.get(k.name) ?? 0) + (typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0))
  for (const r of info.result instanceof Array ? info.result : [info.result]) (r as tf.Tensor).dispose()
  return sums
}
const pf = await byKernel(full)
const ps = await byKernel(shallow)
const fm = fullPassMacs(m)
const sm = shallowPassMacs(m, 0)
process.stdout.write(`${backend}, batch ${B}: full ${median(fw).toFixed(1)} ms, shallow ${median(sw).toFixed(1)} ms; wall ratio ${(median(sw) / median(fw)).toFixed(3)}, MAC ratio ${(sm / fm).toFixed(3)}\n`)
const names = [...new Set([...pf.keys(), ...ps.keys()])].sort((a, b) => (ps.get(b) ?? 0) - (ps.get(a) ?? 0))
const total = (s: Map<string, number>) => [...s.values()].reduce((a, b) => a + b, 0)
process.stdout.write(`kernel                 full ms  shallow ms   (sums ${total(pf).toFixed(1)} / ${total(ps).toFixed(1)})\n`)
for (const n of names) process.stdout.write(`${n.padEnd(22)} ${(pf.get(n) ?? 0).toFixed(2).padStart(8)} ${(ps.get(n) ?? 0).toFixed(2).padStart(10)}\n`)
