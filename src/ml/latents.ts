// Per-dimension standardisation of VAE latents, the role of LDM's scale factor (Rombach et al.,
// arXiv:2112.10752, sec. 4.3.2 and App. G: latents rescaled to unit variance before diffusion), done per
// dimension: z_std = (z - mean) / std and back z = z_std * std + mean. Notation: z [N, D] row-major.
// mean and std are population statistics (divide by N), accumulated in float64, stored as float32.
// A dimension with std 0 (a collapsed latent, constant over the data) keeps std = 1: dividing by 0
// would make it NaN, and any scale is exact for a constant.
import type { ImageBatch, Latents } from "../artifacts/types.ts"

export interface LatentStats {
  readonly mean: Float32Array // [D]
  readonly std: Float32Array // [D]
}

export const latentStats = (z: Float32Array, count: number, dim: number): LatentStats => {
  if (z.length !== count * dim || count < 1) throw new RangeError(`latentStats: ${z.length} values for ${count} rows of ${dim}`)
  const sum = new Float64Array(dim)
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) sum[d] = sum[d]! + z[i * dim + d]!
  const mean = Float64Array.from(sum, (s) => s / count)
  const sq = new Float64Array(dim)
  for (let i = 0; i < count; i++) for (let d = 0; d < dim; d++) sq[d] = sq[d]! + (z[i * dim + d]! - mean[d]!) ** 2
  const std = Float32Array.from(sq, (s) => Math.sqrt(s / count))
  return { mean: Float32Array.from(mean), std: std.map((s) => (s > 0 ? s : 1)) }
}

/** (z - mean) / std per dimension, computed in float64 and rounded once to float32. */
export const standardise = (z: Float32Array, s: LatentStats): Float32Array => {
  const dim = s.mean.length
  const out = new Float32Array(z.length)
  for (let i = 0; i < z.length; i++) out[i] = (z[i]! - s.mean[i % dim]!) / s.std[i % dim]!
  return out
}

/** z_std * std + mean per dimension, the inverse of `standardise` up to one float32 rounding each way. */
export const unstandardise = (zStd: Float32Array, s: LatentStats): Float32Array => {
  const dim = s.mean.length
  const out = new Float32Array(zStd.length)
  for (let i = 0; i < zStd.length; i++) out[i] = zStd[i]! * s.std[i % dim]! + s.mean[i % dim]!
  return out
}

/**
 * Provenance to carry from latents to decoded images: the string/number entries of `latents.meta` when
 * the value has such a record (Latents declares none yet; a sampler may add one), else {}.
 */
export const carriedMeta = (latents: Latents): ImageBatch["meta"] => {
  const meta: unknown = (latents as Latents & { readonly meta?: unknown }).meta
  if (meta === null || typeof meta !== "object") return {}
  return Object.fromEntries(Object.entries(meta).filter((e): e is [string, string | number] => typeof e[1] === "string" || typeof e[1] === "number"))
}

