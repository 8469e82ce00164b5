// src/ml/metrics/psnr.ts: mean squared error and peak signal-to-noise ratio between two images.
// Notation: L = data range (1 for images in [0, 1], 255 for uint8, 2 for [-1, 1]);
// PSNR = 10 log10(L² / MSE) dB, +Infinity for identical images (MSE = 0). Float64 accumulation.

export const mse = (a: ArrayLike<number>, b: ArrayLike<number>): number => {
  if (a.length !== b.length || a.length === 0) throw new RangeError(`image sizes differ or are empty: ${a.length} vs ${b.length}`)
  let s = 0
  for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2
  return s / a.length
}

export const psnrFromMse = (m: number, dataRange: number): number => (m === 0 ? Infinity : 10 * Math.log10((dataRange * dataRange) / m))

export const psnr = (a: ArrayLike<number>, b: ArrayLike<number>, dataRange: number): number => psnrFromMse(mse(a, b), dataRange)
