// src/ml/metrics/edge-f1.ts: how well a generated image follows its conditioning edges. The edge map of
// the image (Canny with the thresholds that made the condition) is compared with the condition, with a
// tolerance of r pixels as in boundary benchmarks (BSDS, Martin et al. 2004), here by dilation: a
// predicted edge pixel counts as correct when a condition edge lies within Chebyshev distance r (the
// (2r+1)x(2r+1) square around it), a condition pixel as recovered when a predicted edge lies within r.
//   precision = |P ∩ dilate(G, r)| / |P|    recall = |G ∩ dilate(P, r)| / |G|    F1 = 2PR / (P + R)
// Differs from BSDS: no one-to-one matching of pixels (several predicted pixels may match one condition
// pixel): the cheap form, slightly more lenient than BSDS's. Empty maps: no predicted edges gives
// precision 1, no condition edges recall 1 (so both empty: F1 = 1); precision + recall = 0 gives F1 = 0. Edge maps are row-major [H, W]; any non-zero value is an edge.

export interface EdgeScores {
  readonly precision: number
  readonly recall: number
  readonly f1: number
}

/** Non-zero pixels of `map` grown by the (2r+1)² square (Chebyshev distance <= r), as 0/1. */
export const dilate = (map: ArrayLike<number>, height: number, width: number, r: number): Uint8Array => {
  const out = new Uint8Array(height * width)
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      if (map[y * width + x] === 0) continue
      for (let yy = Math.max(0, y - r); yy <= Math.min(height - 1, y + r); yy++)
        for (let xx = Math.max(0, x - r); xx <= Math.min(width - 1, x + r); xx++) out[yy * width + xx] = 1
    }
  return out
}

/** Fraction of the non-zero pixels of `a` that lie inside `mask` (1 when `a` has none). */
const coveredFraction = (a: ArrayLike<number>, mask: Uint8Array): number => {
  let n = 0
  let hit = 0
  for (let i = 0; i < mask.length; i++)
    if (a[i] !== 0) {
      n++
      hit += mask[i]!
    }
  return n === 0 ? 1 : hit / n
}

/** Edge precision / recall / F1 of `predicted` against `truth` ([H, W] each) with tolerance r pixels. */
export const edgeF1 = (predicted: ArrayLike<number>, truth: ArrayLike<number>, height: number, width: number, r = 1): EdgeScores => {
  if (predicted.length !== height * width || truth.length !== height * width)
    throw new RangeError(`edge maps of ${predicted.length} and ${truth.length} pixels for a ${height}x${width} image`)
  if (!(Number.isInteger(r) && r >= 0)) throw new RangeError(`tolerance must be a non-negative integer, got ${r}`)
  const precision = coveredFraction(predicted, dilate(truth, height, width, r))
  const recall = coveredFraction(truth, dilate(predicted, height, width, r))
  return { precision, recall, f1: precision + recall === 0 ? 0 : (2 * precision * recall) / (precision + recall) }
}
