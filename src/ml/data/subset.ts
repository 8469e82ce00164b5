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

/** The typed arrays rows are gathered from (images, latents, labels). */
export type RowArray = Uint8Array | Float32Array | Int32Array

/** Rows `indices` of a flat row-major array of `rowSize`-element rows, as a new array of the same type. */
export const gatherRows = <A extends RowArray>(data: A, rowSize: number, indices: ArrayLike<number>): A => {
  const out = new (data.constructor as new (length: number) => A)(indices.length * rowSize)
  for (let k = 0; k < indices.length; k++) {
    const i = indices[k]!
    out.set(data.subarray(i * rowSize, (i + 1) * rowSize), k * rowSize)
  }
  return out
}

/**
 * A deterministic held-out split: the last `holdout` examples of a seeded permutation are held out,
 * the rest train. Returns index arrays (sorted, so file order is kept inside each part).
 */
export const holdoutSplit = (count: number, holdout: number, rng: Rng): { readonly train: Int32Array; readonly test: Int32Array } => {
  const h = Math.max(0, Math.min(holdout, count - 1))
  const perm = rng.permutation(count)
  return { train: perm.slice(0, count - h).sort(), test: perm.slice(count - h).sort() }
}
