import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { normalTensor } from "../../../src/ml/diffusion.ts"
import { Rng } from "../../../src/ml/random.ts"
import { ddim } from "../../../src/ml/samplers/ddim.ts"
import { ddpm, type DdpmConfig } from "../../../src/ml/samplers/ddpm.ts"
import { sampleLoop } from "../../../src/ml/samplers/loop.ts"
import { linearDefaults, makeSchedule, scheduleFromBetas } from "../../../src/ml/schedules.ts"

await tf.setBackend("cpu")
const values = (x: tf.Tensor) => Array.from(x.dataSync())
const near = (a: number[], b: number[], tol: number) => a.length === b.length && a.every((v, i) => Math.abs(v - b[i]!) <= tol)
const linear = makeSchedule(linearDefaults)
const tiny = scheduleFromBetas(Float64Array.of(0.36, 0.4375)) // ᾱ = (0.64, 0.36), see ddim.test.ts
const cfg = (c: Partial<DdpmConfig> = {}): DdpmConfig => ({ variance: "posterior", spacing: "leading", predictedX0: "raw", ...c })

t.test("one ancestral step by hand (Ho et al. eq. 6-7) on the two-step schedule", (t) => {
  // t = 1 -> 0: α = 0.36/0.64 = 0.5625, β = 0.4375; μ~ = (0.8·0.4375/0.64) x̂0 + (0.75·0.36/0.64) x = 0.546875 x̂0 + 0.421875 x
  // x = 1, ε = 0.5: x̂0 = 1, μ~ = 0.96875 (DDIM η=1's mean); β~ = 0.5625·0.4375 = 0.24609375.
  const x = tf.tensor1d([1])
  const eps = tf.tensor1d([0.5])
  const z = tf.tensor1d([2])
  const go = (c: DdpmConfig) => values(ddpm.step(c, tiny, { x, out: eps, t: 1, tPrev: 0, noise: z }))[0]!
  t.ok(Math.abs(go(cfg()) - (0.96875 + 2 * Math.sqrt(0.24609375))) < 1e-6)
  t.ok(Math.abs(go(cfg({ variance: "beta" })) - (0.96875 + 2 * Math.sqrt(0.4375))) < 1e-6)
  t.throws(() => ddpm.step(cfg(), tiny, { x, out: eps, t: 1, tPrev: 0 }), /noise missing/)
  t.end()
})

t.test("all T steps: mean uses the schedule's μ~ coefficients, noise scale β~_t or β_t (fast-check)", (t) => {
  const x = normalTensor(new Rng(1), [6])
  const eps = normalTensor(new Rng(2), [6])
  const zeros = tf.zerosLike(x)
  const ones = tf.onesLike(x)
  const xv = values(x), ev = values(eps)
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 999 }), fc.constantFrom<DdpmConfig["variance"]>("beta", "posterior"), (s, variance) => {
    const mean = values(ddpm.step(cfg({ variance }), linear, { x, out: eps, t: s, tPrev: s - 1, noise: zeros }))
    const shifted = values(ddpm.step(cfg({ variance }), linear, { x, out: eps, t: s, tPrev: s - 1, noise: ones }))
    const a = linear.abar[s]!
    const expected = xv.map((xi, j) => linear.posteriorMeanX0[s]! * ((xi - Math.sqrt(1 - a) * ev[j]!) / Math.sqrt(a)) + linear.posteriorMeanXt[s]! * xi)
    const sd = Math.sqrt(variance === "beta" ? linear.betas[s]! : linear.posteriorVariance[s]!)
    return near(mean, expected, 1e-5) && near(shifted.map((v, j) => v - mean[j]!), new Array<number>(6).fill(sd), 1e-5)
  }), { numRuns: 100 }))
  t.end()
})

t.test("DDPM (β~) and DDIM (η = 1) take the same step for the same noise", (t) => {
  const x = normalTensor(new Rng(3), [2, 3])
  const eps = normalTensor(new Rng(4), [2, 3])
  const z = normalTensor(new Rng(5), [2, 3])
  for (const [s, p] of [[999, 998], [500, 499], [1, 0], [0, -1], [900, 850]] as const) {
    const a = values(ddpm.step(cfg(), linear, { x, out: eps, t: s, tPrev: p, noise: z }))
    const b = values(ddim.step({ eta: 1, spacing: "leading", predictedX0: "raw" }, linear, { x, out: eps, t: s, tPrev: p, noise: z }))
    t.ok(near(a, b, 1e-5), `t = ${s} -> ${p}`)
  }
  t.end()
})

t.test("last step returns x̂0 without noise; clipping clamps x̂0 to [-1, 1]", (t) => {
  const x = tf.tensor1d([0.5, 3])
  const eps = tf.tensor1d([0, 0])
  const z = tf.tensor1d([1, 1])
  const a0 = linear.abar[0]!
  t.ok(near(values(ddpm.step(cfg({ variance: "beta" }), linear, { x, out: eps, t: 0, tPrev: -1, noise: z })), [0.5 / Math.sqrt(a0), 3 / Math.sqrt(a0)], 1e-6))
  t.ok(near(values(ddpm.step(cfg({ predictedX0: "clipped" }), linear, { x, out: eps, t: 0, tPrev: -1, noise: z })), [0.5 / Math.sqrt(a0), 1], 1e-6))
  t.end()
})

t.test("sampling is deterministic for a seed and changes with it", (t) => {
  const model = (x: tf.Tensor) => x.mul(0.3)
  const xT = normalTensor(new Rng(7), [2, 4, 4, 1])
  const run = (seed: number) => {
    const y = sampleLoop(ddpm, { config: cfg(), schedule: linear, T: 1000, steps: 50, model, xStart: xT, rng: new Rng(seed) })
    const v = values(y)
    y.dispose()
    return v
  }
  const a = run(11)
  t.same(run(11), a)
  t.notSame(run(12), a)
  t.end()
})

t.test("step adds exactly one tensor", (t) => {
  const x = normalTensor(new Rng(4), [2, 4, 4, 1])
  const eps = normalTensor(new Rng(5), [2, 4, 4, 1])
  const noise = normalTensor(new Rng(6), [2, 4, 4, 1])
  for (const c of [cfg(), cfg({ variance: "beta", predictedX0: "clipped" })]) {
    const before = tf.memory().numTensors
    const y = ddpm.step(c, linear, { x, out: eps, t: 10, tPrev: 9, noise })
    t.equal(tf.memory().numTensors, before + 1)
    y.dispose()
  }
  t.end()
})
