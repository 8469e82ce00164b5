import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { normalTensor } from "../../../src/ml/diffusion.ts"
import { Rng } from "../../../src/ml/random.ts"
import { ddim, ddimSigma, type DdimConfig } from "../../../src/ml/samplers/ddim.ts"
import { sampleLoop } from "../../../src/ml/samplers/loop.ts"
import { spacings } from "../../../src/ml/samplers/timesteps.ts"
import { linearDefaults, makeSchedule, scheduleFromBetas } from "../../../src/ml/schedules.ts"

await tf.setBackend("cpu")
const values = (x: tf.Tensor) => Array.from(x.dataSync())
const near = (a: number[], b: number[], tol: number) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tol)
const linear = makeSchedule(linearDefaults)

// A two-step schedule with round numbers: β = (0.36, 0.4375) gives ᾱ_0 = 0.64, ᾱ_1 = 0.36,
// so √ᾱ_1 = 0.6, √(1-ᾱ_1) = 0.8, √ᾱ_0 = 0.8, √(1-ᾱ_0) = 0.6.
const tiny = scheduleFromBetas(Float64Array.of(0.36, 0.4375))
const cfg = (c: Partial<DdimConfig> = {}): DdimConfig => ({ eta: 0, spacing: "leading", predictedX0: "raw", ...c })

t.test("timesteps: n steps, strictly decreasing, inside [0, T) (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 1000 }), fc.constantFrom(...spacings), (n, spacing) => {
    const p = ddim.timesteps(cfg({ spacing }), 1000, n)
    return p.length === n && p.every((v, i) => v >= 0 && v < 1000 && (i === 0 || v < p[i - 1]!))
  })))
  t.end()
})

t.test("one DDIM update by hand (eq. 12, 16) on the two-step schedule", (t) => {
  // x = (1, -0.5), ε = (0.5, 1), t = 1 -> 0:
  //   x̂0 = (x - 0.8 ε) / 0.6 = (1, -13/6)
  //   η = 0: x' = 0.8 x̂0 + 0.6 ε = (1.1, -1.1333...)
  //   η = 1: σ² = (0.36/0.64)(1 - 0.36/0.64) = 0.24609375, √(1 - 0.64 - σ²) = 0.3375,
  //          x' = 0.8 x̂0 + 0.3375 ε + σ z, with z = (2, 0): (1.960906741649222, -1.396666...)
  //   η = 0, x̂0 clipped to (1, -1), ε re-derived from it: ε' = (x - 0.6 x̂0) / 0.8 = (0.5, 0.125),
  //          x' = 0.8 x̂0 + 0.6 ε' = (1.1, -0.725) (keeping the raw ε gave (1.1, -0.2))
  const x = tf.tensor1d([1, -0.5])
  const eps = tf.tensor1d([0.5, 1])
  const z = tf.tensor1d([2, 0])
  const step = (c: DdimConfig, noise?: tf.Tensor) => values(ddim.step(c, tiny, { x, out: eps, t: 1, tPrev: 0, noise }))
  t.ok(near(step(cfg()), [1.1, -1.1333333333], 1e-6), `${step(cfg())}`)
  t.ok(Math.abs(ddimSigma(1, 0.36, 0.64) ** 2 - 0.24609375) < 1e-15)
  t.ok(near(step(cfg({ eta: 1 }), z), [1.960906741649222, 0.8 * (-13 / 6) + 0.3375], 1e-6), `${step(cfg({ eta: 1 }), z)}`)
  t.ok(near(step(cfg({ predictedX0: "clipped" })), [1.1, -0.725], 1e-6), `${step(cfg({ predictedX0: "clipped" }))}`)
  // last step to ᾱ_{-1} = 1: x' = x̂0, σ = 0 whatever η
  t.ok(near(values(ddim.step(cfg({ eta: 1 }), tiny, { x, out: eps, t: 0, tPrev: -1, noise: z })), [(1 - 0.3) / 0.8, (-0.5 - 0.6) / 0.8], 1e-6))
  t.throws(() => ddim.step(cfg({ eta: 1 }), tiny, { x, out: eps, t: 1, tPrev: 0 }), /needs noise/)
  t.end()
})

t.test("clipped x̂0: ε is re-derived so x_t = √a x̂0 + √(1 - a) ε' holds; in range it is the raw step (fast-check)", (t) => {
  // The step's output at η = 0 is √ap x̂0 + √(1 - ap) ε'; with x̂0 inside [-1, 1] nothing is clipped and
  // the step equals the unclipped one.
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 999 }), fc.integer({ min: 0, max: 998 }), fc.nat(), fc.double({ min: 0.1, max: 3, noNaN: true }), (t0, gap, seed, scale) => {
    const step = t0, tPrev = Math.max(-1, t0 - 1 - gap)
    const x = normalTensor(new Rng(seed), [16]).mul(scale)
    const eps = normalTensor(new Rng(seed + 1), [16])
    const a = linear.abar[step]!, ap = tPrev < 0 ? 1 : linear.abar[tPrev]!
    const xv = values(x), ev = values(eps)
    const x0 = xv.map((xi, j) => Math.min(1, Math.max(-1, (xi - Math.sqrt(1 - a) * ev[j]!) / Math.sqrt(a))))
    const epsC = xv.map((xi, j) => (xi - Math.sqrt(a) * x0[j]!) / Math.sqrt(1 - a))
    const expected = x0.map((v, j) => Math.sqrt(ap) * v + Math.sqrt(1 - ap) * epsC[j]!)
    const clipped = values(ddim.step(cfg({ predictedX0: "clipped" }), linear, { x, out: eps, t: step, tPrev }))
    const inRange = xv.every((xi, j) => Math.abs((xi - Math.sqrt(1 - a) * ev[j]!) / Math.sqrt(a)) <= 1)
    const raw = values(ddim.step(cfg(), linear, { x, out: eps, t: step, tPrev }))
    tf.dispose([x, eps])
    const tol = 1e-4 * Math.max(1, ...expected.map(Math.abs))
    return near(clipped, expected, tol) && (!inRange || near(clipped, raw, tol))
  }), { numRuns: 300 }))
  t.end()
})

t.test("η = 1 over all T steps is DDPM's posterior: mean μ~_t and variance β~_t (fast-check over t)", (t) => {
  const x = normalTensor(new Rng(1), [8])
  const eps = normalTensor(new Rng(2), [8])
  const ones = tf.onesLike(x)
  const zeros = tf.zerosLike(x)
  const xv = values(x), ev = values(eps)
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 999 }), (step) => {
    const plan = ddim.timesteps(cfg({ eta: 1 }), 1000, 1000)
    const i = plan.indexOf(step)
    const tPrev = plan[i + 1]!
    const mean = values(ddim.step(cfg({ eta: 1 }), linear, { x, out: eps, t: step, tPrev, noise: zeros }))
    const plusSigma = values(ddim.step(cfg({ eta: 1 }), linear, { x, out: eps, t: step, tPrev, noise: ones }))
    const a = linear.abar[step]!
    const expected = xv.map((xi, j) => linear.posteriorMeanX0[step]! * ((xi - Math.sqrt(1 - a) * ev[j]!) / Math.sqrt(a)) + linear.posteriorMeanXt[step]! * xi)
    const sigma2 = ddimSigma(1, a, linear.abar[tPrev]!) ** 2
    return tPrev === step - 1 && near(mean, expected, 1e-5) &&
      Math.abs(sigma2 - linear.posteriorVariance[step]!) < 1e-12 * linear.posteriorVariance[step]! + 1e-18 &&
      near(plusSigma.map((v, j) => v - mean[j]!), new Array<number>(8).fill(Math.sqrt(linear.posteriorVariance[step]!)), 1e-5)
  }), { numRuns: 200 }))
  t.end()
})

t.test("η = 0 with the exact ε of a single data point recovers it, any step count (fast-check)", (t) => {
  // For data x* alone, the optimal ε(x, t) = (x - √ᾱ_t x*) / √(1 - ᾱ_t); DDIM's ODE then lands on x*.
  const target = tf.tensor1d([0.3, -0.7, 0.9])
  const model = (x: tf.Tensor, s: number) => x.sub(target.mul(linear.sqrtAbar[s]!)).div(linear.sqrtOneMinusAbar[s]!)
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 60 }), fc.constantFrom(...spacings), fc.nat(), (n, spacing, seed) => {
    const xT = normalTensor(new Rng(seed), [3])
    const out = sampleLoop(ddim, { config: cfg({ spacing }), schedule: linear, T: 1000, steps: n, model, xStart: xT, rng: new Rng(0) })
    const ok = near(values(out), [0.3, -0.7, 0.9], 2e-3)
    tf.dispose([xT, out])
    return ok
  }), { numRuns: 30 }))
  t.end()
})

t.test("step adds exactly one tensor and disposes nothing it was given", (t) => {
  const x = normalTensor(new Rng(4), [2, 4, 4, 1])
  const eps = normalTensor(new Rng(5), [2, 4, 4, 1])
  const noise = normalTensor(new Rng(6), [2, 4, 4, 1])
  for (const c of [cfg(), cfg({ eta: 0.5, predictedX0: "clipped" })]) {
    const before = tf.memory().numTensors
    const y = ddim.step(c, linear, { x, out: eps, t: 500, tPrev: 480, noise })
    t.equal(tf.memory().numTensors, before + 1)
    t.notOk(x.isDisposed || eps.isDisposed || noise.isDisposed)
    y.dispose()
  }
  t.end()
})
