import t from "tap"
import fc from "fast-check"
import { balancedIndices, gatherRows } from "../../../src/ml/data/subset.ts"
import { Rng } from "../../../src/ml/random.ts"

const labelsArb = fc.uint8Array({ minLength: 0, maxLength: 60 }).map((a) => a.map((v) => v % 4))

t.test("balanced subset: exactly k per present class, ascending, distinct, reproducible", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(labelsArb, fc.integer({ min: 1, max: 6 }), fc.nat(), (labels, k, seed) => {
        const r = balancedIndices(labels, k, new Rng(seed))
        const present = [...new Set(labels)]
        if ("short" in r) return labels.filter((l) => l === r.short.label).length === r.short.available && r.short.available < k
        const again = balancedIndices(labels, k, new Rng(seed))
        const ix = Array.from(r.indices)
        return present.every((c) => ix.filter((i) => labels[i] === c).length === k) &&
          ix.length === present.length * k && ix.every((v, i) => i === 0 || v > ix[i - 1]!) &&
          "indices" in again && again.indices.join() === ix.join()
      }),
    ),
  )
  t.end()
})

t.test("too-small class is reported with its size", (t) => {
  t.same(balancedIndices(Uint8Array.from([0, 0, 1, 2, 2]), 2, new Rng(0)), { short: { label: 1, available: 1 } })
  t.end()
})

t.test("gatherRows copies whole rows in the given order", (t) => {
  t.same(Array.from(gatherRows(Uint8Array.from([1, 2, 3, 4, 5, 6]), 2, [2, 0])), [5, 6, 1, 2])
  t.end()
})
