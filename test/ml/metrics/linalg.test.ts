import t from "tap"
import fc from "fast-check"
import { Rng } from "../../../src/ml/random.ts"
import { matmul, sqrtPsd, symmetricEigen } from "../../../src/ml/metrics/linalg.ts"

const randomSymmetric = (rng: Rng, n: number): Float64Array => {
  const a = new Float64Array(n * n)
  for (let i = 0; i < n; i++) for (let j = 0; j <= i; j++) a[i * n + j] = a[j * n + i] = rng.normal()
  return a
}
const maxAbs = (x: ArrayLike<number>) => Array.from(x).reduce((m, v) => Math.max(m, Math.abs(v)), 0)

t.test("A V = V Λ, Vᵀ V = I, λ ascending, for random symmetric matrices (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), (n, seed) => {
    const a = randomSymmetric(new Rng(seed), n)
    const { values, vectors: V } = symmetricEigen(a, n)
    const AV = matmul(a, V, n)
    const residual = AV.map((v, idx) => v - V[idx]! * values[idx % n]!)
    const Vt = V.map((_, idx) => V[(idx % n) * n + Math.floor(idx / n)]!)
    const gram = matmul(Vt, V, n).map((v, idx) => v - (idx % (n + 1) === 0 ? 1 : 0))
    const tol = 1e-12 * n * (1 + maxAbs(a))
    return maxAbs(residual) < tol && maxAbs(gram) < 1e-13 * n && values.every((v, i) => i === 0 || v >= values[i - 1]!)
  }), { numRuns: 60 }))
  t.end()
})

t.test("known spectra: 2×2, diagonal, repeated and zero eigenvalues", (t) => {
  t.same(Array.from(symmetricEigen([2, 1, 1, 2], 2).values).map((v) => Math.round(v * 1e12) / 1e12), [1, 3])
  t.same(Array.from(symmetricEigen([3, 0, 0, 0, -1, 0, 0, 0, 2], 3).values), [-1, 2, 3])
  t.same(Array.from(symmetricEigen([1, 0, 0, 1], 2).values), [1, 1])
  t.same(Array.from(symmetricEigen(new Float64Array(9), 3).values), [0, 0, 0])
  // all-ones 4×4: eigenvalues 0, 0, 0, 4
  const ones = symmetricEigen(new Float64Array(16).fill(1), 4).values
  t.ok(Math.abs(ones[3]! - 4) < 1e-14 && maxAbs(ones.slice(0, 3)) < 1e-14, `${ones}`)
  t.same(Array.from(symmetricEigen([5], 1).values), [5])
  t.throws(() => symmetricEigen([1, 2, 3], 2), RangeError)
  t.end()
})

t.test("sqrtPsd: S² = A for PSD A; rounding-level negative eigenvalues clamp to 0", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.nat(), (n, rank, seed) => {
    const rng = new Rng(seed)
    const b = Float64Array.from({ length: n * rank }, () => rng.normal())
    const a = new Float64Array(n * n) // B Bᵀ, rank min(n, rank)
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let k = 0; k < rank; k++) a[i * n + j] = a[i * n + j]! + b[i * rank + k]! * b[j * rank + k]!
    const s = sqrtPsd(a, n)
    const err = matmul(s, s, n).map((v, i) => v - a[i]!)
    return maxAbs(err) < 1e-10 * (1 + maxAbs(a)) && s.every((v, i) => v === s[(i % n) * n + Math.floor(i / n)])
  }), { numRuns: 60 }))
  t.same(Array.from(sqrtPsd([4, 0, 0, -1e-18], 2)), [2, 0, 0, 0])
  t.end()
})

t.test("eigenvalues alone equal those of the full decomposition (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.nat(), (n, seed) => {
    const a = randomSymmetric(new Rng(seed), n)
    const full = symmetricEigen(a, n).values
    const only = symmetricEigen(a, n, "skip").values
    return only.every((v, i) => Math.abs(v - full[i]!) < 1e-12 * n * (1 + maxAbs(full)))
  }), { numRuns: 60 }))
  t.end()
})
