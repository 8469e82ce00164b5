import t from "tap"
import fc from "fast-check"
import { fmtDuration } from "../../src/exec/progress.ts"

t.test("ETA formatting: exact values, and seconds never read 60", (t) => {
  t.equal(fmtDuration(0), "0:00")
  t.equal(fmtDuration(59.4), "0:59")
  t.equal(fmtDuration(59.6), "1:00")
  t.equal(fmtDuration(899.7), "15:00")
  t.equal(fmtDuration(3600), "1h00m")
  t.equal(fmtDuration(Number.NaN), "?")
  t.doesNotThrow(() => fc.assert(fc.property(fc.double({ min: 0, max: 3599.4, noNaN: true }), (s) => {
    const [m, r] = fmtDuration(s).split(":").map(Number)
    return r! < 60 && Math.abs(m! * 60 + r! - s) <= 0.5
  })))
  t.end()
})
