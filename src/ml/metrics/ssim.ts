// src/ml/metrics/ssim.ts: structural similarity (Wang, Bovik, Sheikh & Simoncelli 2004, IEEE TIP 13(4), eq. 13).
// Notation: per window, SSIM = (2 μx μy + C1)(2 σxy + C2) / ((μx² + μy² + C1)(σx² + σy² + C2)),
// C1 = (K1 L)², C2 = (K2 L)², K1 = 0.01, K2 = 0.03, L = data range; local statistics weighted by an
// 11×11 Gaussian window (σ = 1.5, weights normalised to sum 1), *population* (weighted) moments;
// the image's SSIM is the mean over 'valid' window positions only ((H-10)×(W-10) of them).
// This is exactly skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
// use_sample_covariance=False, data_range=L), which filters with scipy (truncate 3.5 -> 11 taps)
// and averages after cropping 5 pixels per border, in float64 (skimage keeps float32 inputs in float32).
// Images are row-major [H, W, C]; SSIM is computed per channel and averaged, as skimage's channel_axis.

export interface SsimOptions {
  readonly dataRange: number // L
  readonly windowSize?: number // 11
  readonly sigma?: number // 1.5
  readonly k1?: number // 0.01
  readonly k2?: number // 0.03
}

export interface ImageShape {
  readonly height: number
  readonly width: number
  readonly channels: number
}

/** Normalised 1-D Gaussian taps exp(-x²/2σ²), x = -r..r; the 2-D window is their outer product. */
export const gaussianTaps = (size: number, sigma: number): Float64Array => {
  const r = (size - 1) / 2
  const w = Float64Array.from({ length: size }, (_, i) => Math.exp(-((i - r) ** 2) / (2 * sigma * sigma)))
  const sum = w.reduce((a, b) => a + b, 0)
  return w.map((v) => v / sum)
}

// 'valid' separable correlation of one channel: [H, W] -> [H - k + 1, W - k + 1].
const filterValid = (img: Float64Array, h: number, w: number, taps: Float64Array): Float64Array => {
  const k = taps.length
  const ow = w - k + 1
  const oh = h - k + 1
  const rows = new Float64Array(h * ow)
  for (let y = 0; y < h; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0
      for (let i = 0; i < k; i++) s += taps[i]! * img[y * w + x + i]!
      rows[y * ow + x] = s
    }
  const out = new Float64Array(oh * ow)
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++) {
      let s = 0
      for (let i = 0; i < k; i++) s += taps[i]! * rows[(y + i) * ow + x]!
      out[y * ow + x] = s
    }
  return out
}

/** Mean SSIM of one image pair [H, W, C]. */
export const ssim = (a: ArrayLike<number>, b: ArrayLike<number>, shape: ImageShape, options: SsimOptions): number => {
  const { height: h, width: w, channels: c } = shape
  if (a.length !== h * w * c || b.length !== h * w * c) throw new RangeError(`images must both be ${h}×${w}×${c}, got ${a.length} and ${b.length} values`)
  return ssimAt(a, b, 0, shape, options)
}

/** Per-image SSIM of two batches [N, H, W, C]. */
export const ssimBatch = (a: ArrayLike<number>, b: ArrayLike<number>, count: number, shape: ImageShape, options: SsimOptions): Float64Array => {
  const per = shape.height * shape.width * shape.channels
  if (a.length !== count * per || b.length !== count * per) throw new RangeError(`batches must both hold ${count} images of ${per} values`)
  return Float64Array.from({ length: count }, (_, i) => ssimAt(a, b, i * per, shape, options))
}

// SSIM of the image starting at `offset` in both arrays.
const ssimAt = (a: ArrayLike<number>, b: ArrayLike<number>, offset: number, shape: ImageShape, options: SsimOptions): number => {
  const { height: h, width: w, channels: c } = shape
  const size = options.windowSize ?? 11
  if (h < size || w < size) throw new RangeError(`a ${h}×${w} image is smaller than the ${size}×${size} SSIM window`)
  if (!(options.dataRange > 0)) throw new RangeError(`dataRange = ${options.dataRange}: must be > 0`)
  const taps = gaussianTaps(size, options.sigma ?? 1.5)
  const C1 = ((options.k1 ?? 0.01) * options.dataRange) ** 2
  const C2 = ((options.k2 ?? 0.03) * options.dataRange) ** 2
  let total = 0
  for (let ch = 0; ch < c; ch++) {
    const x = new Float64Array(h * w)
    const y = new Float64Array(h * w)
    for (let i = 0; i < h * w; i++) {
      x[i] = a[offset + i * c + ch]!
      y[i] = b[offset + i * c + ch]!
    }
    const f = (img: Float64Array) => filterValid(img, h, w, taps)
    const mx = f(x)
    const my = f(y)
    const mxx = f(x.map((v) => v * v))
    const myy = f(y.map((v) => v * v))
    const mxy = f(x.map((v, i) => v * y[i]!))
    let sum = 0
    for (let i = 0; i < mx.length; i++) {
      const ux = mx[i]!, uy = my[i]!
      const vx = mxx[i]! - ux * ux, vy = myy[i]! - uy * uy, vxy = mxy[i]! - ux * uy
      sum += ((2 * ux * uy + C1) * (2 * vxy + C2)) / ((ux * ux + uy * uy + C1) * (vx + vy + C2))
    }
    total += sum / mx.length
  }
  return total / c
}

