import t from "tap"
import fc from "fast-check"
import { accuracy, argmaxRows, classHistogram, perClassAccuracy } from "../../../src/ml/metrics/classes.ts"

t.test("histogram, argmax, accuracy and per-class accuracy on a worked example", (t) => {
  const expected = [0, 1, 1, 2, 2, 2]
  const predicted = [0, 1, 2, 2, 2, 0]
  t.same(Array.from(classHistogram(predicted, 4)), [2, 1, 3, 0])
  t.equal(accuracy(predicted, expected), 4 / 6)
  const per = perClassAccuracy(predicted, expected, 4)
  t.same(Array.from(per.slice(0, 3)), [1, 0.5, 2 / 3])
  t.ok(Number.isNaN(per[3]), "a class never requested has no accuracy")
  t.same(Array.from(argmaxRows([0.1, 0.7, 0.2, 5, 5, -1], 2, 3)), [1, 0]) // ties: first wins
  t.throws(() => classHistogram([0, 10], 10), RangeError)
  t.throws(() => accuracy([1], [1, 2]), RangeError)
  t.end()
})

t.test("histogram sums to N; accuracy is the histogram-weighted mean of per-class accuracy (fast-check)", (t) => {
  const pairs = fc.array(fc.tuple(fc.integer({ min: 0, max: 9 }), fc.integer({ min: 0, max: 9 })), { minLength: 1, maxLength: 200 })
  t.doesNotThrow(() => fc.assert(fc.property(pairs, (ps) => {
    const pred = ps.map((p) => p[0])
    const exp = ps.map((p) => p[1])
    const hist = classHistogram(exp, 10)
    const per = perClassAccuracy(pred, exp, 10)
    const weighted = Array.from(hist).reduce((s, n, k) => s + (n === 0 ? 0 : n * per[k]!), 0) / ps.length
    return hist.reduce((s, n) => s + n, 0) === ps.length && Math.abs(weighted - accuracy(pred, exp)) < 1e-12
  })))
  t.end()
})
