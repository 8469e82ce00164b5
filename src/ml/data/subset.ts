// Example selection for datasets held as flat row-major arrays (no artifact types here: src/ml stays
// independent of the engine). Random choices come from the caller's Rng, so subsets are reproducible.
import type { Rng } from "../random.ts"

/** Why a balanced subset is impossible: the smallest class is too small. */
export interface ShortClass {
  readonly label: number
  readonly available: number
}

/**
 * Indices (ascending) of `perClass` examples of every label present, drawn uniformly without
 * replacement: walk a seeded permutation and keep an example while its class is not yet full.
 * Returns the first class with fewer than `perClass` examples instead when there is one.
 */
export const balancedIndices = (
  labels: Uint8Array,
  perClass: number,
  rng: Rng,
): { readonly indices: Int32Array } | { readonly short: ShortClass } => {
  const counts = new Int32Array(256)
  for (const l of labels) counts[l]!++
  for (let l = 0; l < 256; l++)
    if (counts[l]! > 0 && counts[l]! < perClass) return { short: { label: l, available: counts[l]! } }
  const taken = new Int32Array(256)
  const keep: number[] = []
  for (const i of rng.permutation(labels.length)) {
    const l = labels[i]!
    if (taken[l]! < perClass) {
      taken[l]!++
      keep.push(i)
    }
  }
  return { indices: Int32Array.from(keep.sort((a, b) => a - b)) }
}

/** Rows `indices` of a flat array of `rowSize`-element rows. */
export const gatherRows = (data: Uint8Array, rowSize: number, indices: ArrayLike<number>): Uint8Array => {
  const out = new Uint8Array(indices.length * rowSize)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!
    out.set(data.subarray(i * rowSize, (i + 1) * rowSize), k * rowSize)
  }
  return out
}
