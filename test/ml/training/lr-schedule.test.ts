// The judge's lr schedule (lr-schedule.ts) is the diffusion trainer's shape, kept in its own module so
// that the judge's code version does not cover the diffusion trainer: the two must agree everywhere.
import fc from "fast-check"
import t from "tap"
import { learningRateSchedule } from "../../../src/ml/training/diffusion.ts"
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

t.test("the same values as the diffusion trainer's learningRateSchedule for every option", (t) => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 2000 }), fc.integer({ min: 0, max: 300 }), fc.constantFrom("constant" as const, "cosine" as const), fc.double({ min: 1e-5, max: 1, noNaN: true }), fc.integer({ min: 1, max: 2500 }),
      (steps, warmupSteps, decay, lr, step) => {
        const mine = at(lrSchedule({ lr, warmupSteps, decay, steps }), step)
        const theirs = learningRateSchedule({ lr, warmupSteps, lrDecay: decay, steps })(step)
        return mine === theirs
      }),
  )
  t.end()
})
