// PNG encode/decode through pngjs (8-bit grayscale or RGB, no alpha). pngjs writes no timestamp chunk,
// so equal rasters give equal bytes, which keeps PNG file artifacts cacheable.
import { PNG } from "pngjs"
import type { Raster } from "./raster.ts"

const GRAY = 0
const RGB = 2

export const encodePng = (r: Raster): Uint8Array => {
  if (r.pixels.length !== r.height * r.width * r.channels) throw new RangeError("encodePng: pixel count does not match the shape")
  const colorType = r.channels === 1 ? GRAY : RGB
  const png = new PNG({ width: r.width, height: r.height, colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 })
  png.data = Buffer.from(r.pixels.buffer, r.pixels.byteOffset, r.pixels.byteLength)
  return new Uint8Array(PNG.sync.write(png, { colorType, inputColorType: colorType, inputHasAlpha: false, bitDepth: 8 }))
}

/** Decodes any PNG pngjs reads; `channels` picks 1 (the red channel) or 3 (RGB) from its RGBA output. */
export const decodePng = (bytes: Uint8Array, channels: 1 | 3): Raster => {
  const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
  const n = png.width * png.height
  const pixels = new Uint8Array(n * channels)
  for (let i = 0; i < n; i++) for (let c = 0; c < channels; c++) pixels[i * channels + c] = png.data[i * 4 + c]!
  return { height: png.height, width: png.width, channels, pixels }
}
