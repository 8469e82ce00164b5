import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../src/ml/backend/index.ts"
await selectBackend()
const B = 128
const shapes: [string, number, number, number, number][] = [
  ["conv_in 1->32 @28", 28, 1, 32, 3], ["enc0 32->32 @28", 28, 32, 32, 3], ["dec0 96->32 @28", 28, 96, 32, 3], ["dec0 skip1x1 96->32", 28, 96, 32, 1],
  ["conv_out 32->1 @28", 28, 32, 1, 3], ["enc1 32->64 @14", 14, 32, 64, 3], ["64->64 @14", 14, 64, 64, 3], ["up1 64->64 @28", 28, 64, 64, 3], ["64->64 @7", 7, 64, 64, 3],
]
const res: Record<string, number[]> = {}
for (let r = 0; r < 3; r++) for (const [name, s, cin, cout, k] of shapes) {
  const x = tf.randomNormal([B, s, s, cin]) as tf.Tensor4D
  const w = tf.randomNormal([k, k, cin, cout]) as tf.Tensor4D
  const b = tf.zeros([cout]) as tf.Tensor1D
  tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad: "same" }).dispose()
  const t0 = performance.now()
  const n = 3
  for (let i = 0; i < n; i++) { const y = tf.fused.conv2d({ x, filter: w, bias: b, strides: 1, pad: "same" }); y.dataSync(); y.dispose() }
  const ms = (performance.now() - t0) / n
  const macs = B * s * s * k * k * cin * cout
  ;(res[name] ??= []).push(macs / ms / 1e6)
  x.dispose(); w.dispose(); b.dispose()
}
for (const [n, v] of Object.entries(res)) console.log(n.padEnd(24), "GMAC/s", v.map((x) => x.toFixed(1)).join(" "))
