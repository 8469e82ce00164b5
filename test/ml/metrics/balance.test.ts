import t from "tap"
import fc from "fast-check"
import { classShareMaxDeviation } from "../../../src/ml/metrics/balance.ts"

t.test("classShareMaxDeviation on hand-made histograms: max_k |n_k / N - 1/K|", (t) => {
  const close = (a: number, b: number) => Math.abs(a - b) < 1e-15
  t.equal(classShareMaxDeviation([100, 100, 100, 100, 100, 100, 100, 100, 100, 100]), 0, "even: 0")
  t.ok(close(classShareMaxDeviation([1000, 0, 0, 0, 0, 0, 0, 0, 0, 0]), 0.9), "one class: 1 - 1/K")
  // The latent samples: digits 2 and 4 at 5-6%, 5 at 13%: the 5 is the largest deviation.
  t.ok(close(classShareMaxDeviation([10, 10, 5, 11, 6, 13, 11, 11, 12, 11]), 0.05), "a 5% share is 5 points off")
  t.ok(close(classShareMaxDeviation([10, 10, 6, 11, 6, 13, 11, 11, 11, 11]), 0.04), "a deficit of 4 points is beaten by nothing larger")
  t.ok(close(classShareMaxDeviation([30, 10, 10, 10, 10, 10, 5, 5, 5, 5]), 0.2), "counts need not sum to 100")
  t.ok(close(classShareMaxDeviation([1, 1, 1, 5]), 0.375), "K = 4: |5/8 - 1/4|")
  t.equal(classShareMaxDeviation([3, 3, 3]), 0, "K = 3, even")
  t.throws(() => classShareMaxDeviation([0, 0]), RangeError)
  t.throws(() => classShareMaxDeviation([]), RangeError)
  t.end()
})

t.test("classShareMaxDeviation is in [0, 1 - 1/K], 0 only for an even histogram (fast-check)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(fc.nat({ max: 50 }), { minLength: 1, maxLength: 12 }).filter((c) => c.some((x) => x > 0)), (counts) => {
    const d = classShareMaxDeviation(counts)
    const even = counts.every((c) => c === counts[0])
    return d >= 0 && d <= 1 - 1 / counts.length + 1e-15 && (d === 0) === even
  })))
  t.end()
})
