// The warm-up + decay schedule of the judge's and the diffusion trainer (lr-schedule.ts).
import fc from "fast-check"
import t from "tap"
import { lrSchedule } from "../../../src/ml/training/lr-schedule.ts"

const at = (lr: number | ((step: number) => number), step: number): number => (typeof lr === "number" ? lr : lr(step))

t.test("constant without warm-up is a plain number (the trainer's old path, bit for bit)", (t) => {
  t.equal(lrSchedule({ lr: 1e-3, warmupSteps: 0, decay: "constant", steps: 100 }), 1e-3)
  t.end()
})

t.test("cosine: lr at the end of the warm-up, half way down at the middle of the rest, 0 at the last step", (t) => {
  const f = lrSchedule({ lr: 2e-3, warmupSteps: 50, decay: "cosine", steps: 1050 })
  t.equal(at(f, 25), 1e-3, "warm-up is linear")
  t.equal(at(f, 50), 2e-3)
  t.ok(Math.abs(at(f, 550) - 1e-3) < 1e-15)
  t.equal(at(f, 1050), 0)
  t.end()
})

t.test("learning-rate schedules: warm-up, constant, cosine to zero", (t) => {
  const cosine = ((s: number) => at(lrSchedule({ lr: 1e-3, warmupSteps: 100, decay: "cosine", steps: 1100 }), s))
  t.equal(cosine(1), 1e-5)
  t.equal(cosine(50), 5e-4)
  t.equal(cosine(100), 1e-3) // end of warm-up: full lr
  t.equal(cosine(600), 5e-4) // half way through the decay: cos(π/2) = 0
  t.ok(Math.abs(cosine(350) - 1e-3 * (1 + Math.SQRT1_2) / 2) < 1e-18)
  t.equal(cosine(1100), 0)
  const constant = ((s: number) => at(lrSchedule({ lr: 2e-4, warmupSteps: 0, decay: "constant", steps: 10 }), s))
  t.same([1, 5, 10].map(constant), [2e-4, 2e-4, 2e-4])
  t.equal(at(lrSchedule({ lr: 1, warmupSteps: 0, decay: "cosine", steps: 3 }), 1), (1 + Math.cos(Math.PI / 3)) / 2)
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 500 }), fc.integer({ min: 1, max: 5000 }), fc.integer({ min: 1, max: 5000 }), (warmupSteps, extra, step) => {
        const steps = warmupSteps + extra
        const f = (x: number) => at(lrSchedule({ lr: 1, warmupSteps, decay: "cosine", steps }), x)
        const s = Math.min(step, steps)
        // in [0, lr], rising in the warm-up, falling after it
        return f(s) >= 0 && f(s) <= 1 && (s < warmupSteps ? f(s) <= f(s + 1) : s >= steps || f(s + 1) <= f(s))
      }),
    ),
  )
  t.end()
})
