import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { normalTensor, RF_TIME_SCALE } from "../../../src/ml/diffusion.ts"
import { Rng } from "../../../src/ml/random.ts"
import { sampleLoop, type ModelFn } from "../../../src/ml/samplers/loop.ts"
import { rfDefaults, rfEuler, uniformGrid } from "../../../src/ml/samplers/rf-euler.ts"
import { rfMidpoint } from "../../../src/ml/samplers/rf-midpoint.ts"
import type { Sampler } from "../../../src/ml/samplers/sampler.ts"
import type { RfConfig } from "../../../src/ml/samplers/rf-euler.ts"

await tf.setBackend("cpu")
const values = (x: tf.Tensor) => Array.from(x.dataSync())
const near = (a: number[], b: number[], tol: number) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tol)
const solve = (sampler: Sampler<RfConfig, void>, model: ModelFn, x0: tf.Tensor, steps: number) => {
  const y = sampleLoop(sampler, { config: rfDefaults, schedule: undefined, T: 1000, steps, model, xStart: x0, rng: new Rng(0) })
  const v = values(y)
  y.dispose()
  return v
}

t.test("uniform grid: k/n from 0, ends at 1, steps in 1..1000", (t) => {
  t.same(uniformGrid(4), [0, 0.25, 0.5, 0.75])
  t.same(rfEuler.timesteps(rfDefaults, 1000, 1), [0])
  t.equal(rfEuler.end, 1)
  t.throws(() => uniformGrid(0), RangeError)
  t.throws(() => uniformGrid(1001), RangeError)
  t.end()
})

t.test("Euler is exact on straight flows, for any step count (fast-check)", (t) => {
  // (a) a constant field v = x1 - x0 takes x0 to x1; (b) the optimal field for a single data point x1,
  // v(x, t) = (x1 - x)/(1 - t), is constant along its straight paths, so Euler follows them exactly.
  const x1 = tf.tensor1d([0.5, -1, 2])
  const optimal: ModelFn = (x, mt) => x1.sub(x).div(1 - mt / RF_TIME_SCALE)
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), (n, seed) => {
    const x0 = normalTensor(new Rng(seed), [3])
    const c = x1.sub(x0)
    const ok = near(solve(rfEuler, () => c.clone(), x0, n), [0.5, -1, 2], 1e-5) && near(solve(rfEuler, optimal, x0, n), [0.5, -1, 2], 1e-5)
    tf.dispose([x0, c])
    return ok
  }), { numRuns: 40 }))
  t.end()
})

t.test("midpoint is second order on v = a·x: halving h quarters the error (Euler: halves)", (t) => {
  const a = 1
  const x0 = tf.tensor1d([1])
  const exact = Math.exp(a)
  const err = (s: Sampler<RfConfig, void>, n: number) => Math.abs(solve(s, (x) => x.mul(a), x0, n)[0]! - exact)
  const mid = [8, 16, 32].map((n) => err(rfMidpoint, n))
  const eul = [8, 16, 32].map((n) => err(rfEuler, n))
  for (const r of [mid[0]! / mid[1]!, mid[1]! / mid[2]!]) t.ok(r > 3.7 && r < 4.2, `midpoint ratio ${r}`) // float64: 3.81, 3.91 -> 4
  for (const r of [eul[0]! / eul[1]!, eul[1]! / eul[2]!]) t.ok(r > 1.85 && r < 2.1, `euler ratio ${r}`) // float64: 1.90, 1.95 -> 2
  // One midpoint step from 1 over h = 1: 1 + a(1 + a/2).
  t.ok(Math.abs(solve(rfMidpoint, (x) => x.mul(a), x0, 1)[0]! - (1 + a * (1 + a / 2))) < 1e-6)
  t.end()
})

t.test("midpoint integrates a velocity linear in t exactly; model times are t·1000", (t) => {
  const seen: number[] = []
  const x0 = tf.tensor1d([0])
  const model: ModelFn = (x, mt) => {
    seen.push(mt)
    return tf.onesLike(x).mul(mt / RF_TIME_SCALE) // v = t ⇒ x(1) = 1/2
  }
  t.ok(near(solve(rfMidpoint, model, x0, 3), [0.5], 1e-6))
  t.same(seen.map((s) => Math.round(s * 1e6) / 1e6), [0, 166.666667, 333.333333, 500, 666.666667, 833.333333])
  t.equal(rfMidpoint.evalsPerStep, 2)
  t.end()
})

t.test("a step adds exactly one tensor; midpoint without a model is a bug", (t) => {
  const x = normalTensor(new Rng(1), [2, 4, 4, 1])
  const v = normalTensor(new Rng(2), [2, 4, 4, 1])
  const model = (y: tf.Tensor) => y.mul(2)
  for (const s of [rfEuler, rfMidpoint]) {
    const before = tf.memory().numTensors
    const y = s.step(rfDefaults, undefined, { x, out: v, t: 0.25, tPrev: 0.5, model })
    t.equal(tf.memory().numTensors, before + 1, s.name)
    y.dispose()
  }
  t.throws(() => rfMidpoint.step(rfDefaults, undefined, { x, out: v, t: 0, tPrev: 0.5 }), /needs `model`/)
  t.end()
})
