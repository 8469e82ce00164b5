import t from "tap"
import fc from "fast-check"
import { LatentsType } from "../../src/artifacts/index.ts"
import type { Latents } from "../../src/artifacts/types.ts"
import { float32Bits, ipcBytes, roundTrip, sameBits, sameBytes } from "./helpers.ts"

const latentsArb: fc.Arbitrary<Latents> = fc
  .record({ count: fc.nat({ max: 8 }), dim: fc.integer({ min: 1, max: 6 }), labelled: fc.boolean() })
  .chain(({ count, dim, labelled }) =>
    fc.record({
      count: fc.constant(count),
      dim: fc.constant(dim),
      values: float32Bits(count * dim),
      mean: float32Bits(dim),
      std: float32Bits(dim),
      labels: labelled ? fc.uint8Array({ minLength: count, maxLength: count }) : fc.constant(null),
    }),
  )

t.test("latents round-trip bit-exactly, labels null or present, empty batches included", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(latentsArb, (z) => {
        const r = roundTrip(LatentsType, z)
        const labelsOk = z.labels === null ? r.labels === null : r.labels !== null && sameBits(r.labels, z.labels)
        return r.count === z.count && r.dim === z.dim && sameBits(r.values, z.values) &&
          sameBits(r.mean, z.mean) && sameBits(r.std, z.std) && labelsOk
      }),
    ),
  )
  t.end()
})

t.test("latents encoding is deterministic", (t) => {
  t.doesNotThrow(() =>
    fc.assert(fc.property(latentsArb, (z) => sameBytes(ipcBytes(LatentsType, z), ipcBytes(LatentsType, roundTrip(LatentsType, z))))),
  )
  t.end()
})

t.test("a concrete latent batch decodes to known values", (t) => {
  const z: Latents = {
    count: 2, dim: 2, values: new Float32Array([1, 2, 3, 4]), mean: new Float32Array([0.5, -0.5]),
    std: new Float32Array([2, 3]), labels: new Uint8Array([7, 1]),
  }
  const r = roundTrip(LatentsType, z)
  t.same(Array.from(r.values), [1, 2, 3, 4])
  t.same(Array.from(r.mean), [0.5, -0.5])
  t.same(Array.from(r.std), [2, 3])
  t.same(Array.from(r.labels ?? []), [7, 1])
  t.equal(roundTrip(LatentsType, { ...z, labels: null }).labels, null)
  t.end()
})
