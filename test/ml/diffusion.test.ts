import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import {
  ddpmTrainingBatch, epsFromV, normalTensor, predictX0, qSample, vTarget, rfInterpolate, rfModelTime, rfTrainingBatch, rfVelocityTarget, sampleRfTimes,
} from "../../src/ml/diffusion.ts"
import { Rng } from "../../src/ml/random.ts"
import { linearDefaults, makeSchedule } from "../../src/ml/schedules.ts"

await tf.setBackend("cpu")
const schedule = makeSchedule(linearDefaults)
const values = (x: tf.Tensor): Float32Array => x.dataSync() as Float32Array
const maxAbsDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}

t.test("q_sample moments: mean √ᾱ_t x0, variance 1 - ᾱ_t, for any t (fast-check)", (t) => {
  const N = 4000
  const x0Value = 0.7
  const x0 = tf.fill([N, 1], x0Value)
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 0, max: 999 }), fc.nat(), (step, seed) => {
    const eps = normalTensor(new Rng(seed), [N, 1])
    const xt = qSample(schedule, x0, new Array<number>(N).fill(step), eps)
    const v = values(xt)
    tf.dispose([eps, xt])
    let m = 0
    for (const x of v) m += x
    m /= N
    let s2 = 0
    for (const x of v) s2 += (x - m) ** 2
    s2 /= N - 1
    const a = schedule.abar[step]!
    // 6 standard errors: mean SE = √((1-ā)/N); variance SE ≈ (1-ā)√(2/N).
    return Math.abs(m - Math.sqrt(a) * x0Value) < 6 * Math.sqrt((1 - a) / N) && Math.abs(s2 - (1 - a)) < 6 * (1 - a) * Math.sqrt(2 / N)
  }), { numRuns: 25 }))
  x0.dispose()
  t.end()
})

t.test("q_sample uses each example's own t, exactly", (t) => {
  const steps = [0, 10, 500, 999]
  const x0 = tf.tensor4d([1, -1, 0.5, 0.25], [4, 1, 1, 1])
  const zeros = tf.zerosLike(x0)
  const ones = tf.onesLike(x0)
  t.ok(maxAbsDiff(values(qSample(schedule, x0, steps, zeros)), steps.map((s, i) => Math.fround(schedule.sqrtAbar[s]!) * [1, -1, 0.5, 0.25][i]!)) < 1e-7)
  t.ok(maxAbsDiff(values(qSample(schedule, zeros, steps, ones)), steps.map((s) => schedule.sqrtOneMinusAbar[s]!)) < 1e-7)
  t.throws(() => qSample(schedule, x0, [0, 1, 2], zeros), RangeError)
  t.throws(() => qSample(schedule, x0, [0, 1, 2, 1000], zeros), RangeError)
  t.end()
})

t.test("predictX0 inverts q_sample", (t) => {
  const rng = new Rng(1)
  const x0 = normalTensor(rng, [3, 5])
  const eps = normalTensor(rng, [3, 5])
  for (const s of [0, 300, 900]) {
    const back = predictX0(qSample(schedule, x0, [s, s, s], eps), eps, schedule.abar[s]!)
    t.ok(maxAbsDiff(values(back), values(x0)) < 5e-3 * (1 + s / 100), `t = ${s}`)
  }
  t.end()
})

t.test("ddpm training batch: seeded, t in range, target is the ε that made x_t", (t) => {
  const x0 = tf.tensor4d(new Rng(5).uniforms(6 * 4 * 4, -1, 1), [6, 4, 4, 1])
  const a = ddpmTrainingBatch(schedule, x0, new Rng(9))
  const b = ddpmTrainingBatch(schedule, x0, new Rng(9))
  t.same(Array.from(a.t), Array.from(b.t))
  t.same(Array.from(values(a.xt)), Array.from(values(b.xt)))
  t.ok(a.t.every((s) => s >= 0 && s < 1000))
  t.same(Array.from(a.modelTime), Array.from(a.t))
  t.same(Array.from(values(qSample(schedule, x0, a.t, a.target))), Array.from(values(a.xt)))
  t.end()
})

t.test("v-prediction: v = √ᾱ ε - √(1-ᾱ) x0 by hand, and epsFromV recovers the ε that made x_t at any t (fast-check)", (t) => {
  // By hand at one t: x0 = 0.5, ε = -1.5.
  const s = 400
  const [a, b] = [schedule.sqrtAbar[s]!, schedule.sqrtOneMinusAbar[s]!]
  const v = vTarget(schedule, tf.tensor2d([[0.5]]), [s], tf.tensor2d([[-1.5]]))
  t.ok(Math.abs(values(v)[0]! - (a * -1.5 - b * 0.5)) < 1e-6, "v at t = 400")
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 0, max: 999 }), fc.nat(), (step, seed) => {
    const rng = new Rng(seed)
    const x0 = normalTensor(rng, [2, 3])
    const eps = normalTensor(rng, [2, 3])
    const xt = qSample(schedule, x0, [step, step], eps)
    const back = epsFromV(xt, vTarget(schedule, x0, [step, step], eps), schedule.abar[step]!)
    const err = maxAbsDiff(values(back), values(eps))
    tf.dispose([x0, eps, xt, back])
    return err < 1e-5
  }), { numRuns: 50 }))
  t.end()
})

t.test("ddpm training batch with v: the same t, noise and x_t as ε, its target the v of that x_t", (t) => {
  const x0 = tf.tensor4d(new Rng(5).uniforms(6 * 4 * 4, -1, 1), [6, 4, 4, 1])
  const e = ddpmTrainingBatch(schedule, x0, new Rng(9))
  const v = ddpmTrainingBatch(schedule, x0, new Rng(9), "v")
  t.same(Array.from(v.t), Array.from(e.t))
  t.same(Array.from(values(v.xt)), Array.from(values(e.xt)))
  t.same(Array.from(values(v.target)), Array.from(values(vTarget(schedule, x0, e.t, e.target))))
  t.end()
})

t.test("rectified flow: endpoints exact, x_t linear in t, velocity = x1 - x0 (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.nat(), fc.float({ min: 0, max: 1, noNaN: true }), fc.float({ min: 0, max: 1, noNaN: true }), (seed, ta, tb) => {
    const rng = new Rng(seed)
    const x0 = normalTensor(rng, [2, 3, 3, 1])
    const x1 = normalTensor(rng, [2, 3, 3, 1])
    const v = values(rfVelocityTarget(x0, x1))
    const at0 = values(rfInterpolate(x0, x1, [0, 0]))
    const at1 = values(rfInterpolate(x0, x1, [1, 1]))
    const xa = values(rfInterpolate(x0, x1, [ta, ta]))
    const xb = values(rfInterpolate(x0, x1, [tb, tb]))
    const d0 = values(x0), d1 = values(x1)
    const ok = at0.every((x, i) => x === d0[i]) && at1.every((x, i) => x === d1[i]) &&
      v.every((x, i) => Math.abs(x - (d1[i]! - d0[i]!)) < 1e-6) &&
      xb.every((x, i) => Math.abs(x - xa[i]! - (tb - ta) * v[i]!) < 1e-5) // the path is a straight line
    tf.dispose([x0, x1])
    return ok
  }), { numRuns: 50 }))
  t.end()
})

t.test("rectified flow: per-example t, time distributions, model time", (t) => {
  const x0 = tf.tensor2d([[0, 0], [0, 0]])
  const x1 = tf.tensor2d([[1, 2], [1, 2]])
  t.same(Array.from(values(rfInterpolate(x0, x1, [0.25, 0.75]))), [0.25, 0.5, 0.75, 1.5])
  t.equal(rfModelTime(0.5), 500)
  const u = sampleRfTimes({ kind: "uniform" }, 10_000, new Rng(3))
  t.ok(u.every((x) => x >= 0 && x < 1))
  const ln = Array.from(sampleRfTimes({ kind: "logit-normal", mean: 0.5, std: 1 }, 10_001, new Rng(3))).sort((a, b) => a - b)
  t.ok(ln.every((x) => x > 0 && x < 1))
  // logit is monotone, so the median of sigmoid(m + s z) is sigmoid(m).
  t.ok(Math.abs(ln[5000]! - 1 / (1 + Math.exp(-0.5))) < 0.02, `median ${ln[5000]}`)
  t.end()
})

t.test("rf training batch: seeded; given x0 (reflow) is used as the noise end", (t) => {
  const x1 = normalTensor(new Rng(1), [4, 2])
  const a = rfTrainingBatch(x1, { kind: "logit-normal", mean: 0, std: 1 }, new Rng(2))
  const b = rfTrainingBatch(x1, { kind: "logit-normal", mean: 0, std: 1 }, new Rng(2))
  t.same(Array.from(values(a.xt)), Array.from(values(b.xt)))
  t.same(Array.from(a.modelTime), Array.from(a.t).map((x) => Math.fround(x * 1000)))
  const x0 = tf.zeros([4, 2])
  const c = rfTrainingBatch(x1, { kind: "uniform" }, new Rng(2), x0)
  t.same(Array.from(values(c.target)), Array.from(values(x1)))
  t.notOk(x0.isDisposed, "the caller's x0 is not disposed")
  t.end()
})
