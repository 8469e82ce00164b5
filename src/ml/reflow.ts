// The reflow-pairs tensor format (Liu et al. 2022, arXiv:2209.03003, sec. 2.3): written by the
// reflow-pairs node (which samples the couplings with src/ml/sampling/generate.ts), read by
// train-diffusion. A module of its own, with no sampler import, so a trained model's code version does
// not depend on the samplers.
import type { Tensor } from "../artifacts/types.ts"
import type { DiffusionMeta, Space } from "./diffusion-meta.ts"
import { invalidInput } from "./errors.ts"

/** What a reflow-pairs tensor carries: [N, 2, ...itemShape], [:, 0] the noise x0, [:, 1] the sample x1 it flowed to. */
export interface ReflowPairs {
  readonly count: number
  readonly itemShape: readonly number[]
  readonly space: Space
  readonly latent?: DiffusionMeta["latent"]
  readonly data: Float32Array // [N, 2, ...itemShape], model space (pixels in [-1, 1], unclamped)
}

export const reflowPairsTensor = (pairs: ReflowPairs, record: Readonly<Record<string, string | number>>): Tensor => ({
  shape: [pairs.count, 2, ...pairs.itemShape],
  data: pairs.data,
  meta: {
    ...Object.fromEntries(Object.entries(record).map(([k, v]) => [k, String(v)])),
    kind: "reflow-pairs",
    space: pairs.space,
    ...(pairs.latent === undefined ? {} : { latent: JSON.stringify(pairs.latent) }),
  },
})

/**
 * Interleaves each starting noise x0 (item i of `noise`) with the sample x1 it flowed to (item i of
 * `samples`): the [N, 2, ...item] layout of a reflow-pairs tensor.
 */
export const interleavePairs = (noise: Float32Array, samples: Float32Array, count: number, itemSize: number): Float32Array => {
  const data = new Float32Array(2 * count * itemSize)
  for (let i = 0; i < count; i++) {
    data.set(noise.subarray(i * itemSize, (i + 1) * itemSize), 2 * i * itemSize)
    data.set(samples.subarray(i * itemSize, (i + 1) * itemSize), (2 * i + 1) * itemSize)
  }
  return data
}

/** Reads a reflow-pairs tensor back; throws MlError "invalid-input" saying why the tensor is not one. */
export const readReflowPairs = (t: Tensor): ReflowPairs => {
  const fail = (m: string): never => {
    throw invalidInput(m)
  }
  if (t.meta.kind !== "reflow-pairs") fail(`the tensor is not a reflow-pairs tensor (meta.kind = ${JSON.stringify(t.meta.kind)}); make it with reflow-pairs`)
  const space = t.meta.space
  if (space !== "pixel" && space !== "latent") return fail(`reflow pairs: unknown space ${JSON.stringify(space)}`)
  if (t.shape.length < 3 || t.shape[1] !== 2) fail(`reflow pairs: shape [${t.shape}] is not [N, 2, ...item]`)
  const latentJson = t.meta.latent
  const latent = latentJson === undefined ? undefined : (JSON.parse(latentJson) as DiffusionMeta["latent"])
  if (space === "latent" && latent === undefined) fail("reflow pairs in latent space lack the latents' mean/std")
  return { count: t.shape[0]!, itemShape: t.shape.slice(2), space, data: t.data, ...(latent === undefined ? {} : { latent }) }
}
