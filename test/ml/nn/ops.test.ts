import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../../../src/ml/random.ts"
import { sinusoidalEmbedding } from "../../../src/ml/nn/layers.ts"
import { groupNorm, silu, upsampleNearest2x } from "../../../src/ml/nn/ops.ts"

await tf.setBackend("cpu")

t.test("sinusoidal embedding: half sin, half cos with freq_k = exp(-ln(1e4) k / half)", (t) => {
  const e = sinusoidalEmbedding(tf.tensor1d([0, 5]), 8).arraySync()
  t.same(e[0], [0, 0, 0, 0, 1, 1, 1, 1])
  const row = e[1]!
  for (let k = 0; k < 4; k++) {
    const a = 5 * Math.exp((-Math.log(10000) * k) / 4)
    t.ok(Math.abs(row[k]! - Math.sin(a)) < 1e-5 && Math.abs(row[k + 4]! - Math.cos(a)) < 1e-5, `k=${k}`)
  }
  t.end()
})

t.test("silu matches x * sigmoid(x)", (t) => {
  const y = silu(tf.tensor1d([-2, 0, 1.5])).dataSync()
  const ref = [-2, 0, 1.5].map((x) => x / (1 + Math.exp(-x)))
  t.ok(ref.every((r, i) => Math.abs(r - y[i]!) < 1e-6))
  t.end()
})

// Direct float64 GroupNorm, as torch.nn.GroupNorm computes it (biased variance, eps inside sqrt).
const groupNormRef = (x: Float32Array, [b, h, w, c]: [number, number, number, number], g: number, gamma: Float32Array, beta: Float32Array, eps: number) => {
  const out = new Float64Array(x.length)
  const cg = c / g
  for (let n = 0; n < b; n++) for (let gi = 0; gi < g; gi++) {
    let s = 0, s2 = 0
    const idx: number[] = []
    for (let p = 0; p < h * w; p++) for (let j = 0; j < cg; j++) idx.push((n * h * w + p) * c + gi * cg + j)
    for (const i of idx) s += x[i]!
    const mean = s / idx.length
    for (const i of idx) s2 += (x[i]! - mean) ** 2
    const r = 1 / Math.sqrt(s2 / idx.length + eps)
    for (const i of idx) out[i] = (x[i]! - mean) * r * gamma[i % c]! + beta[i % c]!
  }
  return out
}

t.test("groupNorm equals the torch definition on random shapes", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(
    fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 }),
    fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 1000 }),
    (b, hw, g, cg, seed) => {
      const c = g * cg
      const rng = new Rng(seed)
      const shape: [number, number, number, number] = [b, hw, hw, c]
      const x = rng.normals(b * hw * hw * c, 3)
      const gamma = rng.normals(c), beta = rng.normals(c)
      const ref = groupNormRef(x, shape, g, gamma, beta, 1e-5)
      const y = tf.tidy(() => groupNorm(tf.tensor4d(x, [b, hw, hw, c]), tf.tensor1d(gamma), tf.tensor1d(beta), { groups: g }).dataSync())
      return ref.every((r, i) => Math.abs(r - y[i]!) <= 1e-4 * (1 + Math.abs(r)))
    }), { numRuns: 30 }))
  t.end()
})

t.test("upsampleNearest2x repeats pixels and its gradient sums 2x2 blocks (batch > 1)", (t) => {
  const x = tf.tensor4d([1, 2, 3, 4, 5, 6, 7, 8], [2, 2, 2, 1])
  t.same(upsampleNearest2x(x).arraySync()[1]!.map((r) => r.map((p) => p[0])), [
    [5, 5, 6, 6], [5, 5, 6, 6], [7, 7, 8, 8], [7, 7, 8, 8],
  ])
  const dy = tf.tensor4d(Array.from({ length: 32 }, (_, i) => i), [2, 4, 4, 1])
  const g = tf.grad((v: tf.Tensor) => upsampleNearest2x(v as tf.Tensor4D).mul(dy).sum())(x)
  // batch 1, top-left block: dy indices 16,17,20,21
  t.same(Array.from(g.dataSync()), [0 + 1 + 4 + 5, 2 + 3 + 6 + 7, 8 + 9 + 12 + 13, 10 + 11 + 14 + 15, 16 + 17 + 20 + 21, 18 + 19 + 22 + 23, 24 + 25 + 28 + 29, 26 + 27 + 30 + 31])
  t.end()
})
