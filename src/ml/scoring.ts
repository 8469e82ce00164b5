// Scores a batch of generated images with the LeNet judge (src/ml/nn/classifier.ts):
// - FLD: Fréchet distance (d², the FID formula of Heusel et al., arXiv:1706.08500, eq. 6) between the
//   judge's penultimate features of the samples and of real test images; always next to the floor,
//   the FLD of N real *train* images (N = number of samples, seeded subset) against the same test
//   reference. FLD is biased upwards at small N (the sample covariance), so only the floor at the same N
//   says how close "as good as real data" is.
// - class histogram of the judge's predictions, and accuracy against the requested labels if any;
// - pairwise MSE, PSNR (mean of per-image PSNR, data range 1; +Infinity when every pair is identical)
//   and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) against references;
// - every numeric meta entry of the batch (steps, evals_per_image, ...) passed through as a scalar,
//   after any `passThrough` scalars (the sampler's `timing` metrics, which hold seconds_per_image);
//   the scores themselves take precedence over a pass-through entry of the same name.
import type { Dataset, ImageBatch, Metrics, MetricsTable } from "../artifacts/types.ts"
import { accuracy, classHistogram } from "./metrics/classes.ts"
import { type GaussianStats, frechetDistance, gaussianStats } from "./metrics/frechet.ts"
import { psnrFromMse } from "./metrics/psnr.ts"
import { ssimBatch } from "./metrics/ssim.ts"
import type { ClassifierModel } from "./nn/classifier.ts"
import { gatherRows } from "./data/subset.ts"
import type { Rng } from "./random.ts"
import { classify } from "./training/classifier.ts"

/** Images in [0, 1] as scoring sees them (an ImageBatch without meta). */
export type ImageSet = Pick<ImageBatch, "count" | "height" | "width" | "channels" | "pixels" | "labels">

export interface ScoreInputs {
  readonly images: ImageBatch
  /** Real test images: the FLD reference. */
  readonly real: ImageSet
  /** Real training images, as many as `images` (subsetDataset draws them): the floor's sample. */
  readonly floor?: ImageSet
  /** Reference images paired with `images` (first images.count of them). */
  readonly reference?: ImageSet
  /** Scalars to pass through, e.g. a sampler's timing metrics (seconds_per_image, steps). */
  readonly passThrough?: Readonly<Record<string, number>>
}

export interface ScoreOptions {
  readonly batchSize: number
}

const sameShape = (a: ImageSet, b: ImageSet): boolean => a.height === b.height && a.width === b.width && a.channels === b.channels

/** The judge's feature statistics and predicted classes of an image set. */
export const featureStats = (model: ClassifierModel, x: ImageSet, batchSize: number): { stats: GaussianStats; predictions: Int32Array } => {
  const { features, predictions } = classify(model, x.pixels, x.count, batchSize)
  return { stats: gaussianStats(features, x.count, model.config.hidden), predictions }
}

/** min(n, count) distinct indices in a seeded random order. */
export const subsetIndices = (count: number, n: number, rng: Rng): Int32Array => rng.permutation(count).subarray(0, Math.min(n, count))

/** A seeded subset of n images (without replacement, in a random order), gathered before any conversion. */
export const subsetDataset = (d: Dataset, n: number, rng: Rng): Dataset => {
  const idx = subsetIndices(d.count, n, rng)
  return { ...d, count: idx.length, images: gatherRows(d.images, d.height * d.width * d.channels, idx), labels: gatherRows(d.labels, 1, idx) }
}

export interface PairwiseMetrics {
  readonly mse: number // mean per-pixel squared error over all pairs
  readonly psnr: number // mean of per-image PSNR (dB), Infinity if every pair is identical
  readonly ssim: number // mean per-image SSIM
}

/** MSE / PSNR / SSIM of each image against its reference (same shape, first `count` of each). */
export const pairwiseMetrics = (a: ImageSet, b: ImageSet, count: number): PairwiseMetrics => {
  if (!sameShape(a, b)) throw new RangeError(`reference images are ${b.height}x${b.width}x${b.channels}, samples ${a.height}x${a.width}x${a.channels}`)
  if (a.count < count || b.count < count) throw new RangeError(`pairwise metrics of ${count} images need ${count} of each (have ${a.count}, ${b.count})`)
  const row = a.height * a.width * a.channels
  let mseSum = 0
  let psnrSum = 0
  for (let i = 0; i < count; i++) {
    let e = 0
    for (let j = i * row; j < (i + 1) * row; j++) e += (a.pixels[j]! - b.pixels[j]!) ** 2
    mseSum += e / row
    psnrSum += psnrFromMse(e / row, 1)
  }
  const s = ssimBatch(a.pixels.subarray(0, count * row), b.pixels.subarray(0, count * row), count, a, { dataRange: 1 })
  return { mse: mseSum / count, psnr: psnrSum / count, ssim: s.reduce((x, y) => x + y, 0) / count }
}

/** Numeric meta entries as scalars; every entry (numeric or not) as a key/value table. */
export const metaMetrics = (meta: ImageBatch["meta"]): { scalars: Record<string, number>; table: MetricsTable } => {
  const keys = Object.keys(meta).sort()
  const scalars: Record<string, number> = {}
  for (const k of keys) {
    const v = meta[k]!
    if (typeof v === "number") scalars[k] = v
  }
  return { scalars, table: { columns: ["key", "value"], rows: keys.map((k) => [k, meta[k]!]) } }
}

/** All scores of one image batch (see the file comment). The model is only read. */
export const scoreImages = (model: ClassifierModel, inputs: ScoreInputs, o: ScoreOptions): Metrics => {
  const { images, real } = inputs
  const { imageSize: s, inChannels: ch, numClasses } = model.config
  for (const [name, set] of [["images", images], ["real", real], ["floor", inputs.floor], ["reference", inputs.reference]] as const)
    if (set !== undefined && (set.height !== s || set.width !== s || set.channels !== ch))
      throw new RangeError(`${name} are ${set.height}x${set.width}x${set.channels} but the judge takes ${s}x${s}x${ch}`)
  if (images.count < 2) throw new RangeError(`FLD needs at least 2 samples, got ${images.count}`)
  if (real.count < 2) throw new RangeError(`FLD needs at least 2 real reference images, got ${real.count}`)

  const ref = featureStats(model, real, o.batchSize)
  const gen = featureStats(model, images, o.batchSize)
  const scalars: Record<string, number> = { ...inputs.passThrough, ...metaMetrics(images.meta).scalars }
  scalars.fld = frechetDistance(gen.stats, ref.stats)
  scalars.samples = images.count
  scalars.real_samples = real.count
  if (inputs.floor !== undefined) {
    if (inputs.floor.count < 2) throw new RangeError(`the FLD floor needs at least 2 real train images, got ${inputs.floor.count}`)
    scalars.fld_floor = frechetDistance(featureStats(model, inputs.floor, o.batchSize).stats, ref.stats)
    scalars.floor_samples = inputs.floor.count
  }
  const hist = classHistogram(gen.predictions, numClasses)
  hist.forEach((n, k) => (scalars[`class_${k}`] = n / images.count))
  if (images.labels !== null) scalars.accuracy = accuracy(gen.predictions, images.labels)
  if (inputs.reference !== undefined) {
    const p = pairwiseMetrics(images, inputs.reference, images.count)
    scalars.mse = p.mse
    scalars.psnr = p.psnr
    scalars.ssim = p.ssim
  }
  return { scalars, tables: { meta: metaMetrics(images.meta).table } }
}
