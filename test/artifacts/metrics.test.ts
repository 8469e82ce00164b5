import t from "tap"
import fc from "fast-check"
import { MetricsType } from "../../src/artifacts/index.ts"
import type { Metrics, MetricsTable } from "../../src/artifacts/types.ts"
import { ipcBytes, roundTrip, sameBytes, sameNumbers } from "./helpers.ts"

// Any double, NaN, +-Infinity and -0 included.
const cell = fc.oneof(fc.double(), fc.string({ maxLength: 5 }))
const tableArb: fc.Arbitrary<MetricsTable> = fc.integer({ min: 0, max: 4 }).chain((n) =>
  fc.record({
    columns: fc.array(fc.string({ maxLength: 5 }), { minLength: n, maxLength: n }),
    rows: fc.array(fc.array(cell, { minLength: n, maxLength: n }), { maxLength: 5 }),
  }),
)
const metricsArb: fc.Arbitrary<Metrics> = fc.record({
  scalars: fc.dictionary(fc.string({ maxLength: 8 }), fc.double(), { maxKeys: 6 }),
  tables: fc.dictionary(fc.string({ maxLength: 6 }), tableArb, { maxKeys: 3 }),
})

const sameMetrics = (a: Metrics, b: Metrics): boolean => {
  const ka = Object.keys(a.scalars).sort(), kb = Object.keys(b.scalars).sort()
  const ta = Object.keys(a.tables).sort(), tb = Object.keys(b.tables).sort()
  return (
    JSON.stringify(ka) === JSON.stringify(kb) &&
    ka.every((k) => Object.is(a.scalars[k], b.scalars[k])) &&
    JSON.stringify(ta) === JSON.stringify(tb) &&
    ta.every((k) => {
      const x = a.tables[k]!, y = b.tables[k]!
      return JSON.stringify(x.columns) === JSON.stringify(y.columns) && x.rows.length === y.rows.length &&
        x.rows.every((r, i) => sameNumbers(r, y.rows[i]!))
    })
  )
}

t.test("metrics round-trip exactly (NaN, +-Infinity, -0 in scalars and table cells)", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(metricsArb, (m) => sameMetrics(roundTrip(MetricsType, m), m))))
  t.end()
})

t.test("metrics encoding is deterministic and ignores key order", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(metricsArb, (m) => {
        const reordered: Metrics = {
          scalars: Object.fromEntries(Object.entries(m.scalars).reverse()),
          tables: Object.fromEntries(Object.entries(m.tables).reverse()),
        }
        return sameBytes(ipcBytes(MetricsType, m), ipcBytes(MetricsType, reordered))
      }),
    ),
  )
  t.end()
})

t.test("a concrete metrics record decodes to known values", (t) => {
  const m: Metrics = {
    scalars: { fid: 12.5, loss: Number.NaN, "-zero": -0 },
    tables: { curve: { columns: ["step", "loss", "note"], rows: [[1, 0.5, "warmup"], [2, Infinity, ""]] } },
  }
  const r = roundTrip(MetricsType, m)
  t.same(Object.keys(r.scalars), ["-zero", "fid", "loss"])
  t.ok(Object.is(r.scalars["-zero"], -0) && r.scalars.fid === 12.5 && Number.isNaN(r.scalars.loss))
  t.same(r.tables.curve, m.tables.curve)
  t.end()
})
