import t from "tap"
import { isDeepStrictEqual } from "node:util"
import fc from "fast-check"
import { TensorType } from "../../src/artifacts/index.ts"
import type { Tensor } from "../../src/artifacts/types.ts"
import { float32Bits, ipcBytes, roundTrip, sameBits, sameBytes } from "./helpers.ts"

const tensorArb: fc.Arbitrary<Tensor> = fc
  .array(fc.nat({ max: 4 }), { maxLength: 4 })
  .chain((shape) =>
    fc.record({
      shape: fc.constant(shape),
      data: float32Bits(shape.reduce((a, b) => a * b, 1)),
      meta: fc.dictionary(fc.string({ maxLength: 6 }), fc.string({ maxLength: 6 }), { maxKeys: 4, noNullPrototype: true }),
    }),
  )

t.test("tensor round-trips bit-exactly (NaN payloads, -0, scalars, zero-size shapes)", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(tensorArb, (x) => {
        const r = roundTrip(TensorType, x)
        return sameBits(r.data, x.data) && JSON.stringify(r.shape) === JSON.stringify(x.shape) && isDeepStrictEqual(r.meta, x.meta)
      }),
    ),
  )
  t.end()
})

t.test("tensor encoding is deterministic and ignores meta key order", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(tensorArb, (x) => {
        const reversed = Object.fromEntries(Object.entries(x.meta).reverse())
        return sameBytes(ipcBytes(TensorType, x), ipcBytes(TensorType, { ...x, data: x.data.slice(), meta: reversed }))
      }),
    ),
  )
  t.end()
})

t.test("a concrete tensor keeps its values and NaN/-0 bits", (t) => {
  const bits = [0x3fc00000, 0x80000000, 0x7fc00123, 0x7f800000] // 1.5, -0, NaN with a payload, Infinity
  const x: Tensor = { shape: [2, 2], data: new Float32Array(new Uint32Array(bits).buffer), meta: { by: "test" } }
  const r = roundTrip(TensorType, x)
  t.same(r.shape, [2, 2])
  t.same(Array.from(new Uint32Array(r.data.slice().buffer)), bits)
  t.same(r.meta, { by: "test" })
  t.end()
})
