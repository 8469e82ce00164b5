import t from "tap"
import fc from "fast-check"
import { roundHalfEven, spacedTimesteps, spacings } from "../../../src/ml/samplers/timesteps.ts"

// Expected plans: numpy, exactly as diffusers' DDIMScheduler.set_timesteps (steps_offset = 0):
//   linspace np.linspace(0, T-1, n).round()[::-1]; leading (np.arange(n) * (T//n)).round()[::-1];
//   trailing np.round(np.arange(T, 0, -T/n)) - 1.
const reference: Record<string, Record<number, number[]>> = {
  leading: {
    1: [0], 3: [666, 333, 0], 7: [852, 710, 568, 426, 284, 142, 0],
    10: [900, 800, 700, 600, 500, 400, 300, 200, 100, 0],
    16: [930, 868, 806, 744, 682, 620, 558, 496, 434, 372, 310, 248, 186, 124, 62, 0],
  },
  trailing: {
    1: [999], 3: [999, 666, 332], 7: [999, 856, 713, 570, 428, 285, 142],
    10: [999, 899, 799, 699, 599, 499, 399, 299, 199, 99],
    16: [999, 937, 874, 811, 749, 687, 624, 561, 499, 437, 374, 311, 249, 187, 124, 61],
  },
  linspace: {
    1: [0], 3: [999, 500, 0], 7: [999, 832, 666, 500, 333, 166, 0],
    10: [999, 888, 777, 666, 555, 444, 333, 222, 111, 0],
    16: [999, 932, 866, 799, 733, 666, 599, 533, 466, 400, 333, 266, 200, 133, 67, 0],
  },
}

t.test("T = 1000: the plans diffusers computes (Table 2 of arXiv:2305.08891)", (t) => {
  for (const [spacing, plans] of Object.entries(reference))
    for (const [n, plan] of Object.entries(plans)) t.same(spacedTimesteps(spacing as "leading", 1000, Number(n)), plan, `${spacing} n=${n}`)
  t.end()
})

t.test("trailing keeps exactly n steps where np.arange would add a spurious -1 (T=1000, n=61)", (t) => {
  const plan = spacedTimesteps("trailing", 1000, 61)
  t.equal(plan.length, 61)
  t.same(plan.slice(0, 4), [999, 983, 966, 950])
  t.equal(plan[60], 15)
  t.end()
})

t.test("every plan: n steps, strictly decreasing, inside [0, T) (fast-check)", (t) => {
  const arb = fc.integer({ min: 1, max: 2000 }).chain((T) => fc.tuple(fc.constant(T), fc.integer({ min: 1, max: T }), fc.constantFrom(...spacings)))
  t.doesNotThrow(() => fc.assert(fc.property(arb, ([T, n, spacing]) => {
    const p = spacedTimesteps(spacing, T, n)
    return p.length === n && p.every((v, i) => Number.isInteger(v) && v >= 0 && v < T && (i === 0 || v < p[i - 1]!))
  }), { numRuns: 500 }))
  t.end()
})

t.test("n = T visits every timestep; bad n is a RangeError", (t) => {
  for (const s of spacings) t.same(spacedTimesteps(s, 50, 50), Array.from({ length: 50 }, (_, i) => 49 - i))
  t.throws(() => spacedTimesteps("leading", 1000, 0), RangeError)
  t.throws(() => spacedTimesteps("leading", 1000, 1001), RangeError)
  t.throws(() => spacedTimesteps("trailing", 1000, 2.5), RangeError)
  t.end()
})

t.test("round half to even, as numpy", (t) => {
  t.same([0.5, 1.5, 2.5, 499.5, -0.5, -1.5, 2.4, 2.6].map(roundHalfEven), [0, 2, 2, 500, -0, -2, 2, 3])
  t.end()
})
