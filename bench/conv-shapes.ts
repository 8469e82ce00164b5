// Forward convolution throughput on the backend pipe picks, at the reference U-Net's shapes
// (batch 128): GMAC/s per shape, median of --reps calls after two warm-up calls. No dataSync: the
// native kernels run synchronously, and reading a 12.8 MB result back would add ~6 ms per call.
//   npx tsx bench/conv-shapes.ts [--batch 128] [--reps 7]
import { parseArgs } from "node:util"
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
import { median } from "../src/ml/sampling/timing.ts"

const { values } = parseArgs({ options: { batch: { type: "string", default: "128" }, reps: { type: "string", default: "7" } } })
const B = Number(values.batch)
const reps = Number(values.reps)
const { backend } = await selectBackend()
// [size, cin, cout, kernel]: conv_in, the 28x28 block convs and the decoder's 1x1 skip, deeper levels, conv_out
const shapes: [number, number, number, number][] = [
  [28, 1, 32, 3],
  [28, 32, 32, 3],
  [28, 96, 32, 1],
  [28, 32, 1, 3],
  [28, 64, 32, 3],
  [28, 96, 32, 3],
  [14, 64, 64, 3],
  [14, 128, 64, 3],
  [7, 64, 64, 3],
  [7, 128, 64, 3],
]
console.log(`${backend}, batch ${B}`)
for (const [hw, cin, cout, k] of shapes) {
  const x = tf.randomNormal([B, hw, hw, cin]) as tf.Tensor4D
  const w = tf.randomNormal([k, k, cin, cout]) as tf.Tensor4D
  const run = (): number => {
    const t0 = performance.now()
    const y = tf.conv2d(x, w, 1, "same")
    y.dispose()
    return performance.now() - t0
  }
  run(), run()
  const ms = median(Array.from({ length: reps }, run))
  const gmac = (B * hw * hw * k * k * cin * cout) / 1e9
  console.log(`${hw}x${hw} ${k}x${k} ${cin}->${cout}: ${ms.toFixed(2)} ms, ${(gmac / (ms / 1000)).toFixed(1)} GMAC/s`)
  x.dispose(), w.dispose()
}
