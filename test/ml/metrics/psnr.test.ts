import t from "tap"
import fc from "fast-check"
import { mse, psnr, psnrFromMse } from "../../../src/ml/metrics/psnr.ts"

t.test("identical images: MSE 0, PSNR +Infinity", (t) => {
  const a = Float32Array.from({ length: 64 }, (_, i) => i / 64)
  t.equal(mse(a, a), 0)
  t.equal(psnr(a, a, 1), Infinity)
  t.end()
})

t.test("constant shift c: MSE = c², PSNR = 10 log10(L²/c²)", (t) => {
  // dyadic values keep every difference exact
  const a = Float64Array.from({ length: 100 }, (_, i) => (i % 8) / 16)
  t.equal(mse(a, a.map((v) => v + 0.5)), 0.25)
  t.equal(psnr(a, a.map((v) => v + 0.5), 1), 10 * Math.log10(4))
  const u8 = Uint8Array.from({ length: 50 }, (_, i) => i)
  t.ok(Math.abs(psnr(u8, u8.map((v) => v + 5), 255) - 34.15140352195873) < 1e-12) // 10 log10(255²/25)
  t.ok(Math.abs(psnr(a, a.map((v) => v - 0.125), 1) - 18.061799739838872) < 1e-12) // 10 log10(64)
  t.end()
})

t.test("symmetric, and PSNR decreases as MSE grows (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 50 }), fc.double({ min: 0.001, max: 1, noNaN: true }), (xs, c) => {
    const b = xs.map((x) => x + c)
    return mse(xs, b) === mse(b, xs) && psnrFromMse(c * c, 1) > psnrFromMse(4 * c * c, 1)
  })))
  t.throws(() => mse([1, 2], [1]), RangeError)
  t.end()
})
