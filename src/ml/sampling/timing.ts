// src/ml/sampling/timing.ts: wall-clock speed-ups of sampler variants against a baseline, measured in
// one process with the runs interleaved, so slow drifts of a shared machine's load hit both sides:
// every round times the baseline, then each variant once, in an order rotated by one per round (a
// variant is not always timed last, farthest from its baseline). A variant's speed-up in round r is
// baseline_r / variant_r; its reported speed-up is the median over rounds, with the min and max as
// the spread. The clock is passed in (a run returns its own seconds), so the protocol is testable.

export interface TimedVariant<V> {
  readonly variant: V
  /** Seconds of each round, in round order. */
  readonly seconds: readonly number[]
  /** baseline_r / seconds_r per round. */
  readonly ratios: readonly number[]
  readonly medianSeconds: number
  readonly speedup: number // median of ratios
  readonly speedupMin: number
  readonly speedupMax: number
}

export interface InterleavedTimes<V> {
  readonly baseline: readonly number[]
  readonly baselineMedian: number
  readonly variants: readonly TimedVariant<V>[]
}

export const median = (xs: readonly number[]): number => {
  if (xs.length === 0) throw new RangeError("median of no values")
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 === 1 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

/** The order of variant indices in round r: 0..n-1 rotated left by r. */
export const roundOrder = (n: number, r: number): number[] => Array.from({ length: n }, (_, i) => (i + r) % n)

/**
 * Times `baseline` and every variant `rounds` times, interleaved as the file comment says.
 * `run(v)` (v = null for the baseline) performs one run and returns its seconds.
 */
export const timeInterleaved = <V>(variants: readonly V[], rounds: number, run: (v: V | null) => number): InterleavedTimes<V> => {
  if (!(Number.isInteger(rounds) && rounds >= 1)) throw new RangeError(`rounds must be an integer >= 1, got ${rounds}`)
  const baseline: number[] = []
  const seconds = variants.map((): number[] => [])
  for (let r = 0; r < rounds; r++) {
    baseline.push(run(null))
    for (const i of roundOrder(variants.length, r)) seconds[i]!.push(run(variants[i]!))
  }
  return {
    baseline,
    baselineMedian: median(baseline),
    variants: variants.map((variant, i) => {
      const s = seconds[i]!
      const ratios = s.map((x, r) => baseline[r]! / x)
      return { variant, seconds: s, ratios, medianSeconds: median(s), speedup: median(ratios), speedupMin: Math.min(...ratios), speedupMax: Math.max(...ratios) }
    }),
  }
}
