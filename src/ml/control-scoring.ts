// src/ml/control-scoring.ts: scores of images generated from edge maps (ControlNet samples, the
// edge-to-digit regression, or unconditioned samples as the floor). Sample i belongs to edge map
// i mod maps (the sampling node's cycling rule; `maps` = the number of maps it cycled through):
// - edge F1 (src/ml/metrics/edge-f1.ts): Canny of the sample, made exactly as the condition was, against
//   the condition, with a tolerance; mean precision / recall / F1 over samples; and edge_f1_exact, the F1
//   with no tolerance. Both need their floor (unrelated digits): on MNIST test edges, 500 unrelated pairs
//   score F1 0.66 at 1 pixel (a 28x28 digit's ~80 edge pixels, dilated 3x3, cover much of the centre)
//   and 0.24 at 0 pixels;
// - diversity (src/ml/metrics/diversity.ts) when some map has several samples;
// - L1 against the original image of the map (mean |x - x_orig| in [0, 1]) when the originals are given.
import type { Dataset, ImageBatch, Metrics } from "../artifacts/types.ts"
import { groupsByCondition, meanPairwiseDistance } from "./metrics/diversity.ts"
import { edgeF1 } from "./metrics/edge-f1.ts"

export interface ControlScoreInputs {
  readonly images: ImageBatch
  /** The sample images as uint8 (round(255 v)), what Canny reads. */
  readonly imagesU8: Uint8Array
  /** The conditioning edge maps (non-zero = edge). */
  readonly control: Dataset
  /** Edge maps cycled through: sample i belongs to map i mod maps. */
  readonly maps: number
  /** Original images of the maps (same order), for L1. */
  readonly original?: Dataset
  /** Canny of one uint8 image [H, W], with the condition's settings. */
  readonly edgesOf: (img: Uint8Array) => Uint8Array
  /** Tolerance of the edge match in pixels (Chebyshev). */
  readonly tolerance: number
}

/** Why the inputs do not pair up (undefined: they do). */
export const controlScoreProblem = (i: Pick<ControlScoreInputs, "images" | "control" | "maps" | "original">): string | undefined => {
  const { images, control, maps } = i
  if (images.channels !== 1) return `edge F1 needs single-channel images, got ${images.channels} channels`
  for (const [name, d] of [["control", control], ["original", i.original]] as const) {
    if (d === undefined) continue
    if (d.height !== images.height || d.width !== images.width || d.channels !== images.channels)
      return `${name} images are ${d.height}x${d.width}x${d.channels}, the samples ${images.height}x${images.width}x${images.channels}`
    if (d.count < Math.min(maps, images.count)) return `${name} has ${d.count} images, but the samples cycle through ${maps} edge maps`
  }
  if (!(Number.isInteger(maps) && maps >= 1)) return `the number of edge maps must be a positive integer, got ${maps}`
  return undefined
}

/** The scores (see the file comment); throws RangeError when the inputs do not pair up. */
export const scoreControl = (i: ControlScoreInputs): Metrics => {
  const problem = controlScoreProblem(i)
  if (problem !== undefined) throw new RangeError(problem)
  const { images, control, maps } = i
  const size = images.height * images.width
  let p = 0
  let r = 0
  let f = 0
  let exact = 0
  for (let k = 0; k < images.count; k++) {
    const m = k % maps
    const edges = i.edgesOf(i.imagesU8.subarray(k * size, (k + 1) * size))
    const truth = control.images.subarray(m * size, (m + 1) * size)
    const s = edgeF1(edges, truth, images.height, images.width, i.tolerance)
    p += s.precision
    r += s.recall
    f += s.f1
    exact += edgeF1(edges, truth, images.height, images.width, 0).f1
  }
  const n = images.count
  const scalars: Record<string, number> = {
    edge_f1: f / n, edge_precision: p / n, edge_recall: r / n, edge_tolerance: i.tolerance, edge_f1_exact: exact / n, samples: n, maps: Math.min(maps, n),
  }
  if (n > maps) {
    scalars.diversity = meanPairwiseDistance(images.pixels, size, groupsByCondition(n, maps))
    scalars.samples_per_map = n / maps
  }
  if (i.original !== undefined) {
    let l1 = 0
    for (let k = 0; k < n; k++) {
      const m = k % maps
      for (let j = 0; j < size; j++) l1 += Math.abs(images.pixels[k * size + j]! - i.original.images[m * size + j]! / 255)
    }
    scalars.l1 = l1 / (n * size)
  }
  return { scalars, tables: {} }
}
