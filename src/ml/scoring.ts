// Scores a batch of generated images with the LeNet judge (src/ml/nn/classifier.ts):
// - FLD: Fréchet distance (d², the FID formula of Heusel et al., arXiv:1706.08500, eq. 6) between the
//   judge's penultimate features of the samples and of real test images; always next to the floor,
//   the FLD of N real *train* images (N = number of samples) against the same test reference. FLD is
//   biased upwards at small N (the sample covariance), so only the floor at the same N says how close
//   "as good as real data" is, and FLDs at different N are not comparable.
// - fld_se / fld_floor_se: bootstrap standard errors over the samples (resp. the floor's train images),
//   the test reference held fixed (src/ml/metrics/frechet.ts, frechetBootstrap): the spread a rerun
//   with fresh samples would show, which is what decides a ranking of two samplers on one reference.
// - the reference features are computed once per judge (`referenceFeatures`, node reference-features):
//   the test set (or a seeded subset) and a pool of train images in a seeded random order, whose first
//   N rows are the floor at N; a score only computes the features of its own samples.
// - class histogram of the judge's predictions, its largest deviation from the uniform share 1/K
//   (class_share_max_dev; the floor's too), and accuracy against the requested labels if any;
// - pairwise MSE, PSNR (mean of per-image PSNR, data range 1; +Infinity when every pair is identical)
//   and SSIM (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03) against references;
// - every numeric meta entry of the batch (steps, evals_per_image, ...) passed through as a scalar,
//   after any `passThrough` scalars (the sampler's `timing` metrics, which hold seconds_per_image);
//   the scores themselves take precedence over a pass-through entry of the same name.
import { createHash } from "node:crypto"
import * as tf from "@tensorflow/tfjs"
import { datasetToImageBatch } from "../artifacts/convert.ts"
import type { Dataset, ImageBatch, Metrics, MetricsTable, Weights } from "../artifacts/types.ts"
import { classShareMaxDeviation } from "./metrics/balance.ts"
import { accuracy, argmaxRows, classHistogram } from "./metrics/classes.ts"
import { type GaussianStats, frechetBootstrap, frechetDistance, gaussianStats } from "./metrics/frechet.ts"
import { psnrFromMse } from "./metrics/psnr.ts"
import { ssimBatch } from "./metrics/ssim.ts"
import type { ClassifierModel } from "./nn/classifier.ts"
import { gatherRows } from "./data/subset.ts"
import { invalidInput } from "./errors.ts"
import { Rng } from "./random.ts"
import { classify } from "./training/classifier.ts"

/** Images in [0, 1] as scoring sees them (an ImageBatch without meta). */
export type ImageSet = Pick<ImageBatch, "count" | "height" | "width" | "channels" | "pixels" | "labels">

/** Judge features [count, dim] of one image set, row-major (one row per image). */
export interface FeatureSet {
  readonly count: number
  readonly features: Float32Array
}

export interface ScoreInputs {
  readonly images: ImageBatch
  /** Judge features of real test images: the FLD reference. */
  readonly real: FeatureSet
  /** Judge features of real train images in a seeded random order: the floor is their first images.count rows. */
  readonly floor?: FeatureSet
  /** Reference images paired with `images` (first images.count of them). */
  readonly reference?: ImageSet
  /** Scalars to pass through, e.g. a sampler's timing metrics (seconds_per_image, steps). */
  readonly passThrough?: Readonly<Record<string, number>>
}

export interface ScoreOptions {
  readonly batchSize: number
  /** Bootstrap resamples behind fld_se and fld_floor_se; below 2, no standard errors. */
  readonly bootstrap: number
  /** Seeds the bootstrap. */
  readonly seed: number
}

const sameShape = (a: ImageSet, b: ImageSet): boolean => a.height === b.height && a.width === b.width && a.channels === b.channels

/** The judge's feature statistics and predicted classes of an image set. */
export const featureStats = (model: ClassifierModel, x: ImageSet, batchSize: number): { stats: GaussianStats; predictions: Int32Array } => {
  const { features, predictions } = classify(model, x.pixels, x.count, batchSize)
  return { stats: gaussianStats(features, x.count, model.config.hidden), predictions }
}

/** The judge's predicted classes from its penultimate features [count, hidden] (its last layer alone). */
export const predictFromFeatures = (model: ClassifierModel, f: FeatureSet): Int32Array => {
  const logits = tf.tidy(() => model.head(tf.tensor2d(f.features, [f.count, model.config.hidden])))
  const predictions = argmaxRows(logits.dataSync(), f.count, model.config.numClasses)
  logits.dispose()
  return predictions
}

/**
 * A short content fingerprint of a judge's weights (architecture, config, every variable): reference
 * features carry it, so a score fails instead of comparing features of two different judges.
 */
export const judgeFingerprint = (w: Weights): string => {
  const h = createHash("sha256").update(JSON.stringify([w.architecture, w.config]))
  for (const v of w.variables) h.update(JSON.stringify([v.name, v.shape])).update(new Uint8Array(v.values.buffer, v.values.byteOffset, v.values.byteLength))
  return h.digest("hex").slice(0, 16)
}

export interface ReferenceOptions {
  /** Real test images in the reference (a seeded subset when fewer than given). */
  readonly realCount: number
  /** Train images in the floor pool: the largest sample count a floor can be drawn for. */
  readonly floorPool: number
  readonly seed: number
  readonly batchSize: number
}

/**
 * Judge features of the FLD reference (the test set, or a seeded subset of realCount) and of the floor
 * pool (floorPool train images in a seeded random order: its first N rows are the floor at N, so floors
 * at different N are nested). The same seed picks the same images as the score node did before the
 * reference was cached (Rng(seed).fork("real") / .fork("floor") permutations), so FLDs are unchanged.
 */
export const referenceFeatures = (model: ClassifierModel, real: Dataset, train: Dataset, o: ReferenceOptions): { real: FeatureSet; floor: FeatureSet } => {
  const rng = new Rng(o.seed)
  const features = (d: Dataset): FeatureSet => {
    const x = datasetToImageBatch(d)
    return { count: x.count, features: classify(model, x.pixels, x.count, o.batchSize).features }
  }
  return {
    real: features(real.count > o.realCount ? subsetDataset(real, o.realCount, rng.fork("real")) : real),
    floor: features(subsetDataset(train, o.floorPool, rng.fork("floor"))),
  }
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
  if (!sameShape(a, b)) throw invalidInput(`reference images are ${b.height}x${b.width}x${b.channels}, samples ${a.height}x${a.width}x${a.channels}`)
  if (a.count < count || b.count < count) throw invalidInput(`pairwise metrics of ${count} images need ${count} of each (have ${a.count}, ${b.count})`)
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

const checkFeatures = (name: string, f: FeatureSet, dim: number): void => {
  if (f.features.length !== f.count * dim) throw invalidInput(`${name} features: ${f.features.length} values for ${f.count} rows of the judge's ${dim} features`)
}

/** All scores of one image batch (see the file comment). The model is only read. */
export const scoreImages = (model: ClassifierModel, inputs: ScoreInputs, o: ScoreOptions): Metrics => {
  const { images, real } = inputs
  const { imageSize: s, inChannels: ch, numClasses, hidden: dim } = model.config
  for (const [name, set] of [["images", images], ["reference", inputs.reference]] as const)
    if (set !== undefined && (set.height !== s || set.width !== s || set.channels !== ch))
      throw invalidInput(`${name} are ${set.height}x${set.width}x${set.channels} but the judge takes ${s}x${s}x${ch}`)
  checkFeatures("real", real, dim)
  if (inputs.floor !== undefined) checkFeatures("floor", inputs.floor, dim)
  const n = images.count
  if (n < 2) throw invalidInput(`FLD needs at least 2 samples, got ${n}`)
  if (real.count < 2) throw invalidInput(`FLD needs at least 2 real reference images, got ${real.count}`)

  const rng = new Rng(o.seed)
  const ref = gaussianStats(real.features, real.count, dim)
  const gen = classify(model, images.pixels, n, o.batchSize)
  const scalars: Record<string, number> = { ...inputs.passThrough, ...metaMetrics(images.meta).scalars }
  scalars.fld = frechetDistance(gaussianStats(gen.features, n, dim), ref)
  if (o.bootstrap >= 2) scalars.fld_se = frechetBootstrap(gen.features, n, dim, ref, o.bootstrap, rng.fork("samples")).se
  scalars.samples = n
  scalars.real_samples = real.count
  if (inputs.floor !== undefined) {
    if (inputs.floor.count < n)
      throw invalidInput(`the floor needs ${n} real train images (as many as the samples) but the pool has ${inputs.floor.count}: raise floorPool of the reference features`)
    const floor: FeatureSet = { count: n, features: inputs.floor.features.subarray(0, n * dim) }
    scalars.fld_floor = frechetDistance(gaussianStats(floor.features, n, dim), ref)
    if (o.bootstrap >= 2) scalars.fld_floor_se = frechetBootstrap(floor.features, n, dim, ref, o.bootstrap, rng.fork("floor")).se
    scalars.floor_samples = n
    scalars.floor_class_share_max_dev = classShareMaxDeviation(classHistogram(predictFromFeatures(model, floor), numClasses))
  }
  const hist = classHistogram(gen.predictions, numClasses)
  hist.forEach((c, k) => (scalars[`class_${k}`] = c / n))
  scalars.class_share_max_dev = classShareMaxDeviation(hist)
  if (images.labels !== null) scalars.accuracy = accuracy(gen.predictions, images.labels)
  if (inputs.reference !== undefined) {
    const p = pairwiseMetrics(images, inputs.reference, n)
    scalars.mse = p.mse
    scalars.psnr = p.psnr
    scalars.ssim = p.ssim
  }
  return { scalars, tables: { meta: metaMetrics(images.meta).table } }
}
