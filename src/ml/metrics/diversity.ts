// src/ml/metrics/diversity.ts: how different several samples drawn for the same condition are. For each
// group (the samples of one edge map), the mean over its k(k-1)/2 pairs of the RMS pixel distance
// sqrt(mean((a - b)²)) (images in [0, 1], so 0 = identical, 1 = black vs white everywhere); the score
// is the mean over groups. A deterministic model (the edge-to-digit regression) scores 0. Float64 sums.

/** RMS distance between images i and j of a flat [N, size] array. */
const rmsDistance = (pixels: ArrayLike<number>, size: number, i: number, j: number): number => {
  let s = 0
  for (let k = 0; k < size; k++) s += (pixels[i * size + k]! - pixels[j * size + k]!) ** 2
  return Math.sqrt(s / size)
}

/** Mean pairwise RMS distance within each group of item indices, averaged over groups (groups of one are skipped). */
export const meanPairwiseDistance = (pixels: ArrayLike<number>, size: number, groups: readonly (readonly number[])[]): number => {
  let total = 0
  let counted = 0
  for (const g of groups) {
    if (g.length < 2) continue
    let s = 0
    for (let a = 0; a < g.length; a++) for (let b = a + 1; b < g.length; b++) s += rmsDistance(pixels, size, g[a]!, g[b]!)
    total += s / ((g.length * (g.length - 1)) / 2)
    counted++
  }
  if (counted === 0) throw new RangeError("diversity needs a group with at least two samples")
  return total / counted
}

/** Items 0..count-1 grouped by condition when item i was drawn for condition i mod conditions. */
export const groupsByCondition = (count: number, conditions: number): number[][] => {
  const groups = Array.from({ length: Math.min(count, conditions) }, (): number[] => [])
  for (let i = 0; i < count; i++) groups[i % conditions]!.push(i)
  return groups
}
