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
import { matmul, sqrtPsd, symmetricEigen } from "./linalg.ts"

export interface GaussianStats {
  readonly dim: number // D
  readonly count: number // N the statistics came from
  readonly mean: Float64Array // μ [D]
  readonly cov: Float64Array // Σ [D, D] row-major, sample covariance
}

/** μ and the sample covariance of N feature rows (N >= 2). */
export const gaussianStats = (features: ArrayLike<number>, count: number, dim: number): GaussianStats => {
  if (!Number.isInteger(count) || count < 2) throw new RangeError(`${count} feature rows: a sample covariance needs at least 2`)
  if (features.length !== count * dim) throw new RangeError(`${features.length} values for ${count} rows of ${dim} features`)
  const mean = new Float64Array(dim)
  for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + features[r * dim + j]!
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / count
  const cov = new Float64Array(dim * dim)
  const row = new Float64Array(dim)
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < dim; j++) row[j] = features[r * dim + j]! - mean[j]!
    for (let i = 0; i < dim; i++) {
      const ri = row[i]!
      for (let j = 0; j <= i; j++) cov[i * dim + j] = cov[i * dim + j]! + ri * row[j]!
    }
  }
  for (let i = 0; i < dim; i++)
    for (let j = 0; j <= i; j++) cov[i * dim + j] = cov[j * dim + i] = cov[i * dim + j]! / (count - 1)
  return { dim, count, mean, cov }
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
