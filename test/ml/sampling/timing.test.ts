import t from "tap"
import fc from "fast-check"
import { median, roundOrder, timeInterleaved } from "../../../src/ml/sampling/timing.ts"

t.test("median, rotation", (t) => {
  t.equal(median([3, 1, 2]), 2)
  t.equal(median([4, 1, 3, 2]), 2.5)
  t.throws(() => median([]))
  t.same([0, 1, 2].map((r) => roundOrder(3, r)), [[0, 1, 2], [1, 2, 0], [2, 0, 1]])
  t.end()
})

t.test("runs are interleaved: each round times the baseline, then every variant once, rotated", (t) => {
  const log: string[] = []
  timeInterleaved(["a", "b", "c"], 3, (v) => { log.push(v ?? "base"); return 1 })
  t.same(log.join(" "), "base a b c base b c a base c a b")
  t.end()
})

t.test("speed-up = median over rounds of baseline_r / variant_r, with its spread", (t) => {
  // A machine that slows down 2x in round 1: per-round ratios stay 2, whatever the drift.
  const load = [1, 2, 1]
  let round = -1
  const r = timeInterleaved(["half"], 3, (v) => { if (v === null) round++; return (v === null ? 10 : 5) * load[round]! })
  t.same(r.baseline, [10, 20, 10])
  t.same(r.variants[0]!.ratios, [2, 2, 2])
  t.equal(r.variants[0]!.speedup, 2)
  t.equal(r.variants[0]!.medianSeconds, 5)
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(fc.double({ min: 0.1, max: 10, noNaN: true }), { minLength: 6, maxLength: 6 }), (xs) => {
    let i = 0
    const v = timeInterleaved(["x"], 3, () => xs[i++]!).variants[0]!
    return v.speedupMin <= v.speedup && v.speedup <= v.speedupMax && v.ratios.length === 3
  })))
  t.end()
})
