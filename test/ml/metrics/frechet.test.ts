import t from "tap"
import fc from "fast-check"
import { Rng } from "../../../src/ml/random.ts"
import { frechetBootstrap, frechetDistance, frechetDistanceOfFeatures, gaussianStats, type GaussianStats, standardDeviation } from "../../../src/ml/metrics/frechet.ts"
import { matmul } from "../../../src/ml/metrics/linalg.ts"

const stats = (mean: number[], cov: ArrayLike<number>): GaussianStats => ({ dim: mean.length, count: 100, mean: Float64Array.from(mean), cov: Float64Array.from(cov) })
const diag = (v: number[]) => {
  const n = v.length
  const m = new Float64Array(n * n)
  v.forEach((x, i) => (m[i * n + i] = x))
  return m
}
const transpose = (m: Float64Array, n: number) => m.map((_, idx) => m[(idx % n) * n + Math.floor(idx / n)]!)
// A random orthogonal matrix by Gram-Schmidt on Gaussian columns (independent of the eigensolver).
const randomRotation = (rng: Rng, n: number): Float64Array => {
  const cols: number[][] = []
  while (cols.length < n) {
    const v = Array.from({ length: n }, () => rng.normal())
    for (const c of cols) {
      const d = v.reduce((s, x, i) => s + x * c[i]!, 0)
      for (let i = 0; i < n; i++) v[i] = v[i]! - d * c[i]!
    }
    const norm = Math.hypot(...v)
    cols.push(v.map((x) => x / norm))
  }
  return Float64Array.from({ length: n * n }, (_, idx) => cols[idx % n]![Math.floor(idx / n)]!)
}
const closedForm = (m1: number[], m2: number[], a: number[], b: number[]) =>
  m1.reduce((s, x, i) => s + (x - m2[i]!) ** 2, 0) + a.reduce((s, x, i) => s + (Math.sqrt(x) - Math.sqrt(b[i]!)) ** 2, 0)

const posArb = (n: number, min: number) => fc.array(fc.double({ min, max: 10, noNaN: true }), { minLength: n, maxLength: n })
const meanArb = (n: number) => fc.array(fc.double({ min: -5, max: 5, noNaN: true }), { minLength: n, maxLength: n })
const caseArb = (minVariance: number) =>
  fc.integer({ min: 1, max: 12 }).chain((n) => fc.tuple(meanArb(n), meanArb(n), posArb(n, minVariance), posArb(n, minVariance), fc.nat()))

t.test("diagonal covariances: d² = |μ1 - μ2|² + Σ (√a - √b)² (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(caseArb(0), ([m1, m2, a, b]) => {
    const d = frechetDistance(stats(m1, diag(a)), stats(m2, diag(b)))
    const e = closedForm(m1, m2, a, b)
    return Math.abs(d - e) <= 1e-9 * (1 + e)
  })))
  t.end()
})

// Variances here stay >= 0.01: a rotated singular Σ has zero eigenvalues that come out as ±1e-16,
// whose square roots (1e-8 each) are real error, not a bug (the diagonal test above covers zeros
// exactly; a CI run found a = b = [~7, 0, 0, 0] off by 2e-7).
t.test("rotation invariance: the same closed form for Q diag(a) Qᵀ, Q diag(b) Qᵀ, Q μ (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(caseArb(0.01), ([m1, m2, a, b, seed]) => {
    const n = m1.length
    const Q = randomRotation(new Rng(seed), n)
    const rot = (v: number[]) => Array.from({ length: n }, (_, i) => v.reduce((s, x, j) => s + Q[i * n + j]! * x, 0))
    const conj = (c: Float64Array) => matmul(matmul(Q, c, n), transpose(Q, n), n)
    const d = frechetDistance(stats(rot(m1), conj(diag(a))), stats(rot(m2), conj(diag(b))))
    const e = closedForm(m1, m2, a, b)
    return Math.abs(d - e) <= 1e-7 * (1 + e)
  }), { numRuns: 80 }))
  t.end()
})

t.test("symmetric, zero for identical inputs, on random feature sets (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 10 }), fc.nat(), (dim, seed) => {
    const rng = new Rng(seed)
    const fa = rng.normals(30 * dim)
    const fb = Float32Array.from(rng.normals(40 * dim), (x, i) => x * (1 + (i % dim)) + 0.3)
    const ab = frechetDistanceOfFeatures(fa, 30, fb, 40, dim)
    const ba = frechetDistanceOfFeatures(fb, 40, fa, 30, dim)
    return ab > 0 && Math.abs(ab - ba) <= 1e-9 * ab && frechetDistanceOfFeatures(fa, 30, fa, 30, dim) < 1e-9
  }), { numRuns: 50 }))
  t.end()
})

t.test("reference value: pytorch-fid's formula (np.cov, scipy.linalg.sqrtm) on fixed full-rank features", (t) => {
  // Python: i = arange(50)[:, None], j = arange(5)[None, :]; fa = sin(0.37 i (j+1) + 1.3 j) + 0.1 j;
  // i = arange(60)[:, None]; fb = cos(0.21 i (j+2) - 0.7 j)(1 + 0.05 j) + 0.2. scipy gives 0.13983229727669322,
  // a 50-digit mpmath evaluation 0.139832297276696956. (Full rank on purpose: for a singular Σ the square
  // root is only √eps-conditioned, and any two implementations differ around 1e-8.)
  const fa = Float64Array.from({ length: 50 * 5 }, (_, k) => Math.sin(0.37 * Math.floor(k / 5) * ((k % 5) + 1) + 1.3 * (k % 5)) + 0.1 * (k % 5))
  const fb = Float64Array.from({ length: 60 * 5 }, (_, k) => Math.cos(0.21 * Math.floor(k / 5) * ((k % 5) + 2) - 0.7 * (k % 5)) * (1 + 0.05 * (k % 5)) + 0.2)
  const d = frechetDistanceOfFeatures(fa, 50, fb, 60, 5)
  t.ok(Math.abs(d - 0.139832297276696956) < 1e-13, `d² = ${d}`)
  t.end()
})

t.test("sample covariance (N - 1), 1-D closed form, input checks", (t) => {
  const s = gaussianStats([0, 2, 4], 3, 1)
  t.same([s.mean[0], s.cov[0]], [2, 4])
  // 1-D: d² = (m1 - m2)² + (s1 - s2)²
  t.ok(Math.abs(frechetDistance(stats([1], [4]), stats([-2], [9])) - (9 + 1)) < 1e-12)
  t.throws(() => gaussianStats([1, 2], 1, 2), RangeError)
  t.throws(() => gaussianStats([1, 2, 3], 2, 2), RangeError)
  t.throws(() => frechetDistance(stats([0], [1]), stats([0, 0], diag([1, 1]))), RangeError)
  t.end()
})

const relClose = (a: number, b: number, tol: number) => Math.abs(a - b) <= tol * Math.max(Math.abs(a), Math.abs(b), 1e-300)

t.test("gaussianStats with multiplicities = gaussianStats of the rows repeated (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 2, max: 20 }), fc.nat(), (dim, count, seed) => {
    const rng = new Rng(seed)
    const f = rng.normals(count * dim)
    const w = Int32Array.from({ length: count }, () => rng.int(4))
    w[0] = w[0]! + 2 // at least 2 rows in all
    const repeated = Float32Array.from(Array.from(w).flatMap((k, r) => Array.from({ length: k }, () => Array.from(f.subarray(r * dim, (r + 1) * dim))).flat()))
    const a = gaussianStats(f, count, dim, w)
    const b = gaussianStats(repeated, repeated.length / dim, dim)
    return a.count === b.count && a.mean.every((m, j) => Math.abs(m - b.mean[j]!) < 1e-12) && a.cov.every((c, j) => Math.abs(c - b.cov[j]!) < 1e-11)
  }), { numRuns: 60 }))
  t.throws(() => gaussianStats(new Float32Array(6), 3, 2, [1, 0, 0]), /1 feature rows/)
  t.end()
})

// The bootstrap's draws, replayed independently: the same rng calls, the rows gathered, the plain formula.
const replayBootstrap = (f: Float32Array, count: number, dim: number, fixed: GaussianStats, resamples: number, rng: Rng): number[] =>
  Array.from({ length: resamples }, () => {
    const rows = Array.from({ length: count }, () => rng.int(count))
    const gathered = Float32Array.from(rows.flatMap((r) => Array.from(f.subarray(r * dim, (r + 1) * dim))))
    return frechetDistance(fixed, gaussianStats(gathered, count, dim))
  })

t.test("frechetBootstrap: each replicate is d² of a resample with replacement; seeded and reproducible", (t) => {
  const dim = 6
  const rng = new Rng(11)
  const fixed = gaussianStats(Float32Array.from(rng.normals(400 * dim), (x, i) => x * (1 + (i % dim) / 3)), 400, dim)
  const f = Float32Array.from(rng.normals(80 * dim), (x, i) => x + 0.2 * (i % dim))
  const b = frechetBootstrap(f, 80, dim, fixed, 30, new Rng(5))
  const replay = replayBootstrap(f, 80, dim, fixed, 30, new Rng(5))
  t.ok(Array.from(b.replicates).every((d, i) => relClose(d, replay[i]!, 1e-9)), "projected-row formula = plain d² of the gathered resample")
  t.equal(b.se, standardDeviation(b.replicates))
  t.same(frechetBootstrap(f, 80, dim, fixed, 30, new Rng(5)), b, "same seed, same replicates")
  t.not(frechetBootstrap(f, 80, dim, fixed, 30, new Rng(6)).se, b.se, "another seed, other replicates")
  const point = frechetDistance(gaussianStats(f, 80, dim), fixed)
  t.ok(b.se > 0 && b.se < point, `d² ${point} ± ${b.se}`)
  t.ok(Number.isNaN(frechetBootstrap(f, 80, dim, fixed, 1, new Rng(5)).se), "one replicate has no spread")
  t.throws(() => frechetBootstrap(f, 80, dim, fixed, -1, new Rng(5)), RangeError)
  t.end()
})

t.test("frechetBootstrap: the standard error shrinks like 1/√N (4x the samples, about half the SE)", (t) => {
  const dim = 4
  const rng = new Rng(3)
  const fixed = gaussianStats(rng.normals(4000 * dim), 4000, dim)
  // Samples from a shifted Gaussian: d² is dominated by the mean term, whose SE is ∝ 1/√N.
  const se = (n: number) => frechetBootstrap(Float32Array.from(rng.normals(n * dim), (x) => x + 0.5), n, dim, fixed, 200, new Rng(n)).se
  const ratio = se(200) / se(800)
  t.ok(ratio > 1.5 && ratio < 2.7, `SE(200) / SE(800) = ${ratio}`)
  t.end()
})

t.test("standardDeviation: sample SD (n - 1), NaN below 2 values", (t) => {
  t.equal(standardDeviation([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7))
  t.ok(Number.isNaN(standardDeviation([1])))
  t.end()
})
