// Shared inputs of the VAE-family node tests (train-vae, encode-latents, decode): 32 synthetic 8x8
// "digits" (a bright square whose position encodes the label) and a tiny VAE trained on them for two
// steps by the train-vae node itself. Small on purpose: the CPU backend runs these in seconds.
import type { Dataset } from "../../src/artifacts/types.ts"
import trainVae from "../../nodes/train-vae.ts"
import { Rng } from "../../src/ml/random.ts"
import { runNode } from "./data-node-helpers.ts"

export const tinyVaeParams = { latentDim: 3, channels: [4, 8], groups: 4, epochs: 1, batchSize: 16, testCount: 8, gridItems: 4, logEvery: 1 }

export const squares = (count: number, seed: number): Dataset => {
  const rng = new Rng(seed)
  const labels = Uint8Array.from({ length: count }, () => rng.int(10))
  const images = new Uint8Array(count * 64)
  labels.forEach((l, i) => {
    const top = l % 5, left = 4 * Math.floor(l / 5) // 3x3 square at one of 10 positions
    for (let y = top; y < top + 3; y++) for (let x = left; x < left + 3 && x < 8; x++) images[i * 64 + y * 8 + x] = 155 + rng.int(100)
  })
  return { count, height: 8, width: 8, channels: 1, images, labels }
}

export const tinyVae = async () => {
  const dataset = squares(32, 0)
  return { dataset, ...(await runNode(trainVae, { dataset }, tinyVaeParams)) }
}
