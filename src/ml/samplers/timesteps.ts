// src/ml/samplers/timesteps.ts: which n of the T training timesteps a discrete sampler visits.
// Names and formulas of Table 2 of Lin et al. 2023 ("Common Diffusion Noise Schedules and Sample
// Steps are Flawed", arXiv:2305.08891), computed exactly as diffusers' DDIMScheduler.set_timesteps
// does with numpy (round half to even; steps_offset = 0). T = 1000, n = 10 gives
//   leading  [900, 800, ..., 100, 0]   (t = k·⌊T/n⌋)
//   trailing [999, 899, ..., 199, 99]  (round(T - k·T/n) - 1: always starts at T - 1, the noisiest step)
//   linspace [999, 888, ..., 111, 0]   (round(k·(T - 1)/(n - 1)))
// Checked against numpy for every n at T in {1, 2, 7, 37, 50, 100, 1000, 4000}.
// A sampler reads the previous timestep from this list; it never computes t - T/n.

export type Spacing = "leading" | "trailing" | "linspace"
export const spacings: readonly Spacing[] = ["leading", "trailing", "linspace"]

/** numpy's round (IEEE round half to even), so .5 cases match diffusers. */
export const roundHalfEven = (x: number): number => {
  const r = Math.round(x)
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r
}

/** n timesteps in [0, T), strictly decreasing. */
export const spacedTimesteps = (spacing: Spacing, T: number, n: number): number[] => {
  if (!Number.isInteger(T) || T < 1) throw new RangeError(`T = ${T}: must be a positive integer`)
  if (!Number.isInteger(n) || n < 1 || n > T) throw new RangeError(`steps = ${n}: must be an integer in [1, ${T}]`)
  const ks = Array.from({ length: n }, (_, k) => k)
  switch (spacing) {
    case "leading": {
      const ratio = Math.floor(T / n)
      return ks.map((k) => k * ratio).reverse()
    }
    case "trailing": {
      // np.arange(T, 0, -T/n) fills start + k·delta with delta = (start + step) - start. Differs from
      // diffusers: for some n (T = 1000: n = 61, 103, 121, ...) np.arange's length ceil(T / (T/n))
      // rounds up to n + 1 and diffusers' plan ends in a spurious timestep -1; we keep exactly n.
      const delta = T + -T / n - T
      return ks.map((k) => roundHalfEven(T + k * delta) - 1)
    }
    case "linspace": {
      // np.linspace(0, T - 1, n): k·((T - 1) / (n - 1)), last entry set to T - 1 exactly.
      if (n === 1) return [0]
      const step = (T - 1) / (n - 1)
      return ks.map((k) => (k === n - 1 ? T - 1 : roundHalfEven(k * step))).reverse()
    }
  }
}
