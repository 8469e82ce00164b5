import t from "tap"
import fc from "fast-check"
import { tableFromIPC, tableToIPC } from "apache-arrow"
import { LatentsType } from "../../src/artifacts/index.ts"
import type { Latents } from "../../src/artifacts/types.ts"
import { carriedMeta, latentStats, standardise, unstandardise } from "../../src/ml/latents.ts"

// N rows of D finite latents with per-dimension offsets and scales, as a VAE encoder produces.
const latentsArb = fc
  .record({ count: fc.integer({ min: 1, max: 40 }), dim: fc.integer({ min: 1, max: 8 }) })
  .chain(({ count, dim }) =>
    fc.record({
      count: fc.constant(count),
      dim: fc.constant(dim),
      // Multiples of 1/1024 in [-1000, 1000]: encoder outputs, not subnormals (whose std loses precision).
      z: fc.array(fc.integer({ min: -1_024_000, max: 1_024_000 }), { minLength: count * dim, maxLength: count * dim })
        .map((a) => Float32Array.from(a, (v) => v / 1024)),
    }),
  )

t.test("standardise then unstandardise returns z to float32 rounding (relative to the dimension's scale)", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(latentsArb, ({ count, dim, z }) => {
        const s = latentStats(z, count, dim)
        const back = unstandardise(standardise(z, s), s)
        return Array.from(z).every((v, i) => {
          const d = i % dim
          const scale = Math.abs(s.mean[d]!) + s.std[d]! * (Math.abs(v - s.mean[d]!) / s.std[d]! + 1)
          return Math.abs(back[i]! - v) <= 4 * 2 ** -23 * scale
        })
      }),
    ),
  )
  t.end()
})

t.test("standardised dimensions have mean 0 and std 1; a constant dimension keeps std 1", (t) => {
  const z = Float32Array.from([1, 5, 3, 5, 5, 5]) // dim 0: 1, 3, 5 ; dim 1: constant 5
  const s = latentStats(z, 3, 2)
  t.same(Array.from(s.mean), [3, 5])
  t.equal(s.std[0], Math.fround(Math.sqrt(8 / 3)))
  t.equal(s.std[1], 1)
  const zs = standardise(z, s)
  t.same(Array.from(zs).filter((_, i) => i % 2 === 1), [0, 0, 0])
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(latentsArb.filter((l) => l.count >= 2), ({ count, dim, z }) => {
        const zs = standardise(z, latentStats(z, count, dim))
        const again = latentStats(zs, count, dim)
        return Array.from(again.mean).every((m) => Math.abs(m) < 1e-4) && Array.from(again.std).every((v) => Math.abs(v - 1) < 1e-4)
      }),
    ),
  )
  t.end()
})

t.test("the round trip also holds through the Latents Arrow codec (mean/std travel bit-exact)", (t) => {
  const z = Float32Array.from({ length: 12 }, (_, i) => Math.sin(i) * 7 + i)
  const s = latentStats(z, 4, 3)
  const value: Latents = { count: 4, dim: 3, values: standardise(z, s), mean: s.mean, std: s.std, labels: Uint8Array.from([1, 2, 3, 4]) }
  const decoded = LatentsType.decode(tableFromIPC(tableToIPC(LatentsType.encode(value), "file")))
  t.same(Array.from(unstandardise(decoded.values, decoded)), Array.from(unstandardise(value.values, s)))
  t.end()
})

t.test("carriedMeta keeps string/number entries of a meta record and is {} without one", (t) => {
  const base: Latents = { count: 0, dim: 1, values: new Float32Array(0), mean: new Float32Array(1), std: new Float32Array(1), labels: null }
  t.same(carriedMeta(base), {})
  const withMeta = { ...base, meta: { sampler: "ddim", steps: 20, nested: { a: 1 } } }
  t.same(carriedMeta(withMeta), { sampler: "ddim", steps: 20 })
  t.end()
})
