import t from "tap"
import fc from "fast-check"
import { abarAt, cosineAbar, cosineDefaults, linearDefaults, makeSchedule, scheduleFromBetas } from "../../src/ml/schedules.ts"

// Reference values: numpy float64, np.linspace(1e-4, 0.02, 1000) / np.cumprod(1 - betas), and for cosine
// diffusers' betas_for_alpha_bar formula min(1 - f((i+1)/T)/f(i/T), 0.999) with f(u) = cos²((u+s)/(1+s)·π/2).
const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.abs(b)

t.test("linear: exact endpoints, constant step, DDPM's ᾱ_T ≈ 4.04e-5", (t) => {
  const s = makeSchedule(linearDefaults)
  t.equal(s.T, 1000)
  t.equal(s.betas[0], 1e-4)
  t.equal(s.betas[999], 0.02)
  const step = (0.02 - 1e-4) / 999
  t.ok(s.betas.slice(1).every((b, i) => Math.abs(b - s.betas[i]! - step) < 1e-17), "β_{t+1} - β_t = (β_end - β_start)/(T-1)")
  t.equal(s.abar[0], 0.9999)
  t.ok(close(s.abar[499]!, 0.07858724288177824, 1e-13), `ᾱ_499 = ${s.abar[499]}`)
  t.ok(close(s.abar[999]!, 4.035829765375676e-5, 1e-12), `ᾱ_999 = ${s.abar[999]}`)
  t.equal(s.posteriorVariance[0], 0, "β~_0 = 0: x_{-1} is x̂_0 itself")
  t.ok(close(s.posteriorVariance[1]!, 5.4531876613021935e-5, 1e-12))
  t.ok(close(s.posteriorVariance[999]!, 0.01999998352656061, 1e-12))
  t.end()
})

t.test("cosine: ᾱ_t = f((t+1)/T)/f(0) until the 0.999 cap, which only the last step hits", (t) => {
  const s = makeSchedule(cosineDefaults)
  t.ok(close(s.betas[0]!, 4.128422482196914e-5, 1e-12), `β_0 = ${s.betas[0]}`)
  t.ok(close(s.betas[499]!, 0.0031458862304780677, 1e-12))
  t.equal(s.betas[999], 0.999)
  t.equal(s.betas.filter((b) => b >= 0.999).length, 1)
  for (const i of [0, 1, 10, 250, 499, 900, 998]) t.ok(close(s.abar[i]!, cosineAbar((i + 1) / 1000, 0.008), 1e-11), `ᾱ_${i}`)
  t.ok(close(s.abar[499]!, 0.4938435904406382, 1e-12))
  t.ok(close(s.abar[999]!, 2.4287669070348567e-9, 1e-9), "capped last step: ᾱ_999 = ᾱ_998·(1 - 0.999)")
  t.end()
})

t.test("ᾱ is the running product of α, and α = 1 - β", (t) => {
  for (const s of [makeSchedule(linearDefaults), makeSchedule(cosineDefaults)]) {
    let logSum = 0
    s.betas.forEach((b, i) => {
      logSum += Math.log1p(-b)
      if (s.alphas[i] !== 1 - b || !close(s.abar[i]!, Math.exp(logSum), 1e-11)) t.fail(`t = ${i}`)
    })
    t.equal(s.abarPrev[0], 1)
    t.ok(s.abarPrev.slice(1).every((v, i) => v === s.abar[i]))
  }
  t.end()
})

t.test("posterior q(x_{t-1} | x_t, x_0) marginalises back to q(x_{t-1} | x_0) (eq. 6-7)", (t) => {
  // x_t = √ᾱ_t x0 + √(1-ᾱ_t) ε ⇒ E = c0 x0 + ct √ᾱ_t x0 must be √ᾱ_{t-1} x0, Var = ct²(1-ᾱ_t) + β~_t must be 1-ᾱ_{t-1}.
  const schedules = [makeSchedule(linearDefaults), makeSchedule(cosineDefaults), makeSchedule({ kind: "linear", T: 50, betaStart: 1e-3, betaEnd: 0.2 })]
  t.doesNotThrow(() => fc.assert(fc.property(fc.constantFrom(...schedules), fc.nat(), (s, r) => {
    const i = r % s.T
    const mean = s.posteriorMeanX0[i]! + s.posteriorMeanXt[i]! * s.sqrtAbar[i]!
    const variance = s.posteriorMeanXt[i]! ** 2 * (1 - s.abar[i]!) + s.posteriorVariance[i]!
    return Math.abs(mean - Math.sqrt(s.abarPrev[i]!)) < 1e-12 && Math.abs(variance - (1 - s.abarPrev[i]!)) < 1e-12
  })))
  t.end()
})

t.test("sqrt terms, abarAt and input checks", (t) => {
  const s = makeSchedule({ kind: "cosine", T: 20, s: 0.008, maxBeta: 0.999 })
  t.ok(s.sqrtAbar.every((v, i) => v === Math.sqrt(s.abar[i]!)))
  t.ok(s.sqrtOneMinusAbar.every((v, i) => v === Math.sqrt(1 - s.abar[i]!)))
  t.equal(abarAt(s, -1), 1)
  t.equal(abarAt(s, 19), s.abar[19])
  t.throws(() => abarAt(s, 20), RangeError)
  t.throws(() => abarAt(s, 1.5), RangeError)
  t.throws(() => scheduleFromBetas(Float64Array.of(0.1, 1)), RangeError)
  t.throws(() => makeSchedule({ kind: "linear", T: 0, betaStart: 1e-4, betaEnd: 0.02 }), RangeError)
  t.end()
})
