// src/ml/metrics/frechet.ts: Fréchet distance between Gaussians fitted to two feature sets, the FID
// formula (Heusel et al. 2017, arXiv:1706.08500, eq. 6; Dowson & Landau 1982):
//   d² = |μ1 - μ2|² + tr(Σ1) + tr(Σ2) - 2 tr((Σ1^½ Σ2 Σ1^½)^½)
// Notation: features are row-major [N, D] (one row per image); μ [D], Σ [D, D].
// Σ is the *sample* covariance (divides by N - 1), as np.cov in pytorch-fid and TTUR's reference code,
// so our numbers match theirs for the same features. All math in float64.
// The cross term uses tr((Σ1 Σ2)^½) = tr((Σ1^½ Σ2 Σ1^½)^½): the inner matrix is symmetric PSD, so two
// symmetric eigendecompositions replace scipy.linalg.sqrtm's non-symmetric Schur method (and its
// complex-valued noise); tiny negative eigenvalues from rounding are clamped to 0. A singular Σ (fewer
// samples than dimensions, dead features) makes the square root only √eps-conditioned: d² is then good
// to ~1e-8 relative, in any implementation.
// Uncertainty: a bootstrap over the feature rows of one set (Efron & Tibshirani 1993, ch. 6): B
// resamples of N rows drawn with replacement, each refitted and scored against the fixed other set;
// the standard error is the replicates' standard deviation. d² is symmetric in its two arguments, so
// the fixed set's square root is taken once for all B replicates.
import { matmul, sqrtPsd, symmetricEigen } from "./linalg.ts"
import type { Rng } from "../random.ts"

export interface GaussianStats {
  readonly dim: number // D
  readonly count: number // N the statistics came from
  readonly mean: Float64Array // μ [D]
  readonly cov: Float64Array // Σ [D, D] row-major, sample covariance
}

/**
 * μ and the sample covariance of N feature rows (N >= 2). With `multiplicity`, row r counts
 * multiplicity[r] times (a bootstrap resample without gathering it): N = Σ multiplicity.
 */
export const gaussianStats = (features: ArrayLike<number>, count: number, dim: number, multiplicity?: ArrayLike<number>): GaussianStats => {
  if (features.length !== count * dim) throw new RangeError(`${features.length} values for ${count} rows of ${dim} features`)
  if (multiplicity !== undefined && multiplicity.length !== count) throw new RangeError(`${multiplicity.length} multiplicities for ${count} rows`)
  const w = (r: number): number => (multiplicity === undefined ? 1 : multiplicity[r]!)
  let n = 0
  for (let r = 0; r < count; r++) n += w(r)
  if (!Number.isInteger(n) || n < 2) throw new RangeError(`${n} feature rows: a sample covariance needs at least 2`)
  const mean = new Float64Array(dim)
  for (let r = 0; r < count; r++) {
    const wr = w(r)
    if (wr !== 0) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + wr * features[r * dim + j]!
  }
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / n
  // Σ accumulates w (x - μ)(x - μ)ᵀ over the rows of non-zero weight, four rows per pass over Σ's
  // lower triangle (a fourth of the memory traffic of one row per pass: 2x faster at D = 128); the
  // last group is padded with zero rows.
  const rows: number[] = []
  for (let r = 0; r < count; r++) if (w(r) !== 0) rows.push(r)
  const cov = new Float64Array(dim * dim)
  const x = new Float64Array(4 * dim) // four centred rows
  const wx = new Float64Array(4 * dim) // the same rows times their weights
  for (let k = 0; k < rows.length; k += 4) {
    for (let q = 0; q < 4; q++) {
      const r = rows[k + q]
      for (let j = 0; j < dim; j++) {
        const v = r === undefined ? 0 : features[r * dim + j]! - mean[j]!
        x[q * dim + j] = v
        wx[q * dim + j] = r === undefined ? 0 : w(r) * v
      }
    }
    for (let i = 0; i < dim; i++) {
      const a0 = wx[i]!, a1 = wx[dim + i]!, a2 = wx[2 * dim + i]!, a3 = wx[3 * dim + i]!
      for (let j = 0, o = i * dim; j <= i; j++)
        cov[o + j] = cov[o + j]! + a0 * x[j]! + a1 * x[dim + j]! + a2 * x[2 * dim + j]! + a3 * x[3 * dim + j]!
    }
  }
  for (let i = 0; i < dim; i++)
    for (let j = 0; j <= i; j++) cov[i * dim + j] = cov[j * dim + i] = cov[i * dim + j]! / (n - 1)
  return { dim, count: n, mean, cov }
}

/** d² between N(μ1, Σ1) and N(μ2, Σ2); >= 0 (a rounding-level negative result is returned as 0). */
export const frechetDistance = (a: GaussianStats, b: GaussianStats): number => {
  const n = a.dim
  if (b.dim !== n) throw new RangeError(`feature dimensions differ: ${a.dim} vs ${b.dim}`)
  let meanTerm = 0
  let traces = 0
  for (let i = 0; i < n; i++) {
    meanTerm += (a.mean[i]! - b.mean[i]!) ** 2
    traces += a.cov[i * n + i]! + b.cov[i * n + i]!
  }
  const s1 = sqrtPsd(a.cov, n)
  const m = matmul(matmul(s1, b.cov, n), s1, n)
  for (let i = 0; i < n; i++) // symmetrise away the rounding of the two products
    for (let j = 0; j < i; j++) m[i * n + j] = m[j * n + i] = (m[i * n + j]! + m[j * n + i]!) / 2
  let cross = 0
  for (const lambda of symmetricEigen(m, n, "skip").values) cross += Math.sqrt(Math.max(lambda, 0))
  return Math.max(0, meanTerm + traces - 2 * cross)
}

/** Convenience: d² between the Gaussians of two feature matrices [Na, D] and [Nb, D]. */
export const frechetDistanceOfFeatures = (a: ArrayLike<number>, countA: number, b: ArrayLike<number>, countB: number, dim: number): number =>
  frechetDistance(gaussianStats(a, countA, dim), gaussianStats(b, countB, dim))

export interface FrechetBootstrap {
  readonly replicates: Float64Array // d² of each resample, in draw order
  readonly se: number // their standard deviation (divides by B - 1); NaN when B < 2
}

/**
 * Bootstrap of d²(fixed, features): `resamples` times, N rows of `features` [N, D] drawn with
 * replacement (N draws of rng.int(N) each, so a seed gives the same replicates) and scored against
 * the fixed Gaussian. With S = Σ_fixed^½ (symmetric), the inner matrix S Σ_b S of a resample b is the
 * covariance of the projected rows y = S x over that resample, so the rows are projected once and each
 * replicate costs one D×D covariance over the distinct rows and one eigenvalue-only decomposition
 * (no D×D products); |μ_b - μ|² and tr Σ_b come from the unprojected rows in O(N D).
 */
export const frechetBootstrap = (features: ArrayLike<number>, count: number, dim: number, fixed: GaussianStats, resamples: number, rng: Rng): FrechetBootstrap => {
  if (!Number.isInteger(resamples) || resamples < 0) throw new RangeError(`bootstrap resamples must be a non-negative integer, got ${resamples}`)
  if (fixed.dim !== dim) throw new RangeError(`feature dimensions differ: ${fixed.dim} vs ${dim}`)
  if (features.length !== count * dim) throw new RangeError(`${features.length} values for ${count} rows of ${dim} features`)
  const root = sqrtPsd(fixed.cov, dim)
  const projected = new Float64Array(count * dim) // y_r = S x_r, [N, D]
  for (let r = 0; r < count; r++)
    for (let i = 0; i < dim; i++) {
      let v = 0
      for (let j = 0; j < dim; j++) v += root[i * dim + j]! * features[r * dim + j]!
      projected[r * dim + i] = v
    }
  let fixedTrace = 0
  for (let i = 0; i < dim; i++) fixedTrace += fixed.cov[i * dim + i]!
  const replicates = new Float64Array(resamples)
  const multiplicity = new Int32Array(count)
  const mean = new Float64Array(dim)
  for (let b = 0; b < resamples; b++) {
    multiplicity.fill(0)
    for (let i = 0; i < count; i++) {
      const r = rng.int(count)
      multiplicity[r] = multiplicity[r]! + 1
    }
    // μ_b and tr Σ_b = Σ_r w_r |x_r - μ_b|² / (N - 1) in feature space.
    mean.fill(0)
    for (let r = 0; r < count; r++)
      if (multiplicity[r] !== 0) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + multiplicity[r]! * features[r * dim + j]!
    let meanTerm = 0
    for (let j = 0; j < dim; j++) {
      mean[j] = mean[j]! / count
      meanTerm += (mean[j]! - fixed.mean[j]!) ** 2
    }
    let trace = 0
    for (let r = 0; r < count; r++)
      if (multiplicity[r] !== 0) for (let j = 0; j < dim; j++) trace += multiplicity[r]! * (features[r * dim + j]! - mean[j]!) ** 2
    trace /= count - 1
    let cross = 0
    for (const lambda of symmetricEigen(gaussianStats(projected, count, dim, multiplicity).cov, dim, "skip").values) cross += Math.sqrt(Math.max(lambda, 0))
    replicates[b] = Math.max(0, meanTerm + fixedTrace + trace - 2 * cross)
  }
  return { replicates, se: standardDeviation(replicates) }
}

/** Sample standard deviation (divides by n - 1); NaN for fewer than 2 values. */
export const standardDeviation = (x: ArrayLike<number>): number => {
  if (x.length < 2) return NaN
  let mean = 0
  for (let i = 0; i < x.length; i++) mean += x[i]!
  mean /= x.length
  let ss = 0
  for (let i = 0; i < x.length; i++) ss += (x[i]! - mean) ** 2
  return Math.sqrt(ss / (x.length - 1))
}
