// The uint8 image the grid code draws into and the PNG codec reads and writes: row-major [H, W, C],
// C = 1 (grayscale) or 3 (RGB).
export interface Raster {
  readonly height: number
  readonly width: number
  readonly channels: 1 | 3
  readonly pixels: Uint8Array
}

export const makeRaster = (height: number, width: number, channels: 1 | 3, fill = 0): Raster => ({
  height,
  width,
  channels,
  pixels: new Uint8Array(height * width * channels).fill(fill),
})
