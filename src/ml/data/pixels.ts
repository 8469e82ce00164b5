// uint8 pixels (0..255, what dataset artifacts hold) to the float ranges the models take.

/** v / 255: [0, 1], the range of the VAE, the judge and image batches. */
export const toUnitFloat = (pixels: Uint8Array): Float32Array => {
  const out = new Float32Array(pixels.length)
  for (let i = 0; i < out.length; i++) out[i] = pixels[i]! / 255
  return out
}

/** v / 127.5 - 1: [-1, 1], the data range both diffusion objectives assume (DDPM sec. 3.3). */
export const toSignedUnit = (pixels: Uint8Array): Float32Array => {
  const out = new Float32Array(pixels.length)
  for (let i = 0; i < out.length; i++) out[i] = pixels[i]! / 127.5 - 1
  return out
}
