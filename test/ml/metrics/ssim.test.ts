import t from "tap"
import fc from "fast-check"
import { Rng } from "../../../src/ml/random.ts"
import { gaussianTaps, ssim, ssimBatch } from "../../../src/ml/metrics/ssim.ts"

const gray = (h: number, w: number) => ({ height: h, width: w, channels: 1 })
const C1 = (L: number) => (0.01 * L) ** 2
const C2 = (L: number) => (0.03 * L) ** 2

// Independent reference: direct 2-D weighted window sums (no separable filtering), float64, one channel.
const direct = (a: ArrayLike<number>, b: ArrayLike<number>, h: number, w: number, L: number, term: "ssim" | "luminance" = "ssim"): number => {
  const g = Array.from({ length: 11 }, (_, i) => Math.exp(-((i - 5) ** 2) / (2 * 1.5 ** 2)))
  const w2 = g.flatMap((gy) => g.map((gx) => gy * gx))
  const total = w2.reduce((s, v) => s + v, 0)
  let sum = 0
  let count = 0
  for (let y = 0; y + 11 <= h; y++)
    for (let x = 0; x + 11 <= w; x++) {
      let mx = 0, my = 0, sxx = 0, syy = 0, sxy = 0
      for (let dy = 0; dy < 11; dy++)
        for (let dx = 0; dx < 11; dx++) {
          const wt = w2[dy * 11 + dx]! / total
          const p = a[(y + dy) * w + x + dx]!, q = b[(y + dy) * w + x + dx]!
          mx += wt * p; my += wt * q; sxx += wt * p * p; syy += wt * q * q; sxy += wt * p * q
        }
      const lum = (2 * mx * my + C1(L)) / (mx * mx + my * my + C1(L))
      const cs = (2 * (sxy - mx * my) + C2(L)) / (sxx - mx * mx + syy - my * my + C2(L))
      sum += term === "ssim" ? lum * cs : lum
      count++
    }
  return sum / count
}

t.test("window: 11 normalised Gaussian taps, σ = 1.5", (t) => {
  const g = gaussianTaps(11, 1.5)
  t.ok(Math.abs(g.reduce((s, v) => s + v, 0) - 1) < 1e-15)
  t.ok(Math.abs(g[5]! / g[0]! - Math.exp(25 / 4.5)) < 1e-9)
  t.end()
})

t.test("identical images: SSIM exactly 1", (t) => {
  const a = new Rng(1).uniforms(28 * 28)
  t.equal(ssim(a, a, gray(28, 28), { dataRange: 1 }), 1)
  t.end()
})

t.test("constant images μ and μ + c: SSIM = (2μ(μ+c) + C1) / (μ² + (μ+c)² + C1)", (t) => {
  for (const [mu, c, L] of [[0.5, 0.1, 1], [0.2, -0.2, 1], [100, 30, 255]] as const) {
    const a = new Float64Array(16 * 16).fill(mu)
    const b = new Float64Array(16 * 16).fill(mu + c)
    const expected = (2 * mu * (mu + c) + C1(L)) / (mu * mu + (mu + c) ** 2 + C1(L))
    t.ok(Math.abs(ssim(a, b, gray(16, 16), { dataRange: L }) - expected) < 1e-12, `μ=${mu} c=${c}`)
  }
  t.end()
})

t.test("constant shift of a textured image: structure term is 1, SSIM = mean luminance term", (t) => {
  const a = new Rng(2).uniforms(20 * 24, 0.2, 0.8)
  const b = a.map((v) => v + 0.125)
  const got = ssim(a, b, gray(20, 24), { dataRange: 1 })
  t.ok(Math.abs(got - direct(a, b, 20, 24, 1, "luminance")) < 1e-7, `${got}`) // float32 inputs: cs = 1 up to float32 of b - a
  t.ok(got < 1)
  t.end()
})

t.test("matches a direct 2-D window computation on random pairs (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 11, max: 20 }), fc.integer({ min: 11, max: 20 }), fc.nat(), (h, w, seed) => {
    const rng = new Rng(seed)
    const a = rng.uniforms(h * w)
    const b = a.map((v) => 0.7 * v + 0.3 * rng.uniform())
    const got = ssim(a, b, gray(h, w), { dataRange: 1 })
    return Math.abs(got - direct(a, b, h, w, 1)) < 1e-12 && Math.abs(got - ssim(b, a, gray(h, w), { dataRange: 1 })) < 1e-14 && got <= 1
  }), { numRuns: 40 }))
  t.end()
})

t.test("reference pairs: skimage structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False)", (t) => {
  // Values from scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.5, mode="reflect") + crop 5, which is
  // skimage's computation; images: a = 0.5 + 0.4 sin(0.7x + 0.3y) cos(0.2y), b = 0.8a + 0.1 + 0.05 cos(1.1x - 0.5y)
  // (28×28, L = 1); and per channel c of a 16×20×3 image A = 128 + 100 sin(0.5x + 0.2y + c),
  // B = 0.9A + 20 cos(0.03xy + c) (L = 255), averaged over channels.
  const a = Float64Array.from({ length: 28 * 28 }, (_, k) => { const x = k % 28, y = Math.floor(k / 28); return 0.5 + 0.4 * Math.sin(0.7 * x + 0.3 * y) * Math.cos(0.2 * y) })
  const b = a.map((v, k) => { const x = k % 28, y = Math.floor(k / 28); return 0.8 * v + 0.1 + 0.05 * Math.cos(1.1 * x - 0.5 * y) })
  t.ok(Math.abs(ssim(a, b, gray(28, 28), { dataRange: 1 }) - 0.9366262828092666) < 1e-13)
  const A = new Float64Array(16 * 20 * 3)
  const B = new Float64Array(16 * 20 * 3)
  for (let y = 0; y < 16; y++) for (let x = 0; x < 20; x++) for (let c = 0; c < 3; c++) {
    const i = (y * 20 + x) * 3 + c
    A[i] = 128 + 100 * Math.sin(0.5 * x + 0.2 * y + c)
    B[i] = A[i]! * 0.9 + 20 * Math.cos((0.3 * x * y) / 10 + c)
  }
  t.ok(Math.abs(ssim(A, B, { height: 16, width: 20, channels: 3 }, { dataRange: 255 }) - 0.9531213697703298) < 1e-13)
  t.end()
})

t.test("batches: per-image values; bad shapes are RangeErrors", (t) => {
  const rng = new Rng(3)
  const a = rng.uniforms(3 * 12 * 12)
  const b = rng.uniforms(3 * 12 * 12)
  const per = ssimBatch(a, b, 3, gray(12, 12), { dataRange: 1 })
  for (let i = 0; i < 3; i++) t.equal(per[i], ssim(a.subarray(i * 144, (i + 1) * 144), b.subarray(i * 144, (i + 1) * 144), gray(12, 12), { dataRange: 1 }))
  t.throws(() => ssim(new Float32Array(100), new Float32Array(100), gray(10, 10), { dataRange: 1 }), RangeError)
  t.throws(() => ssim(new Float32Array(144), new Float32Array(143), gray(12, 12), { dataRange: 1 }), RangeError)
  t.end()
})
