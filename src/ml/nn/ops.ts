// Differentiable building-block ops that dispatch to pipe's fused kernels when the active backend
// registers them (pipe-native), and to plain tfjs ops everywhere else. Both paths compute the same
// function; test/ml/backend checks values and gradients agree within float tolerance.
// Layout NHWC throughout.
import * as tf from "@tensorflow/tfjs"
import * as K from "../backend/kernel-names.ts"

/** True when the active backend has a kernel registered under this name. */
export const hasFused = (kernelName: string): boolean =>
  tf.getKernel(kernelName, tf.getBackend()) !== undefined

const runFused = (name: string, inputs: tf.NamedTensorMap, attrs: Record<string, number | boolean> = {}): tf.Tensor =>
  tf.engine().runKernel(name, inputs, attrs as unknown as tf.NamedAttrMap) as tf.Tensor

/** SiLU(x) = x * sigmoid(x) (Elfwing et al., arXiv:1702.03118; "swish"). */
export const silu = <T extends tf.Tensor>(x: T): T =>
  (hasFused(K.SILU) ? runFused(K.SILU, { x }) : tf.tidy(() => x.mul(tf.sigmoid(x)))) as T

/** Plain-tfjs GroupNorm (Wu & He, arXiv:1803.08494) over NHWC: statistics per (sample, group). */
const groupNormPlain = (x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, groups: number, eps: number): tf.Tensor4D =>
  tf.tidy(() => {
    const [b, h, w, c] = x.shape
    const xg = x.reshape([b, h, w, groups, c / groups])
    const { mean, variance } = tf.moments(xg, [1, 2, 4], true)
    const xn = xg.sub(mean).mul(tf.rsqrt(variance.add(eps))).reshape([b, h, w, c])
    return xn.mul(gamma).add(beta) as tf.Tensor4D
  })

export interface GroupNormOptions {
  readonly groups: number
  readonly eps?: number // default 1e-5 as in torch.nn.GroupNorm
  /** Apply SiLU after the affine transform (fused into one pass on pipe-native). */
  readonly silu?: boolean
}

/** GroupNorm over NHWC x with per-channel affine gamma/beta, optionally followed by SiLU. */
export const groupNorm = (x: tf.Tensor4D, gamma: tf.Tensor1D, beta: tf.Tensor1D, o: GroupNormOptions): tf.Tensor4D => {
  const eps = o.eps ?? 1e-5
  const c = x.shape[3]
  if (c % o.groups !== 0) throw new Error(`groupNorm: ${c} channels are not divisible into ${o.groups} groups`)
  if (hasFused(K.GROUP_NORM)) {
    return runFused(K.GROUP_NORM, { x, gamma, beta }, { groups: o.groups, eps, silu: o.silu === true }) as tf.Tensor4D
  }
  if (o.silu !== true) return groupNormPlain(x, gamma, beta, o.groups, eps)
  return tf.tidy(() => silu(groupNormPlain(x, gamma, beta, o.groups, eps)))
}

/**
 * Nearest-neighbour x2 upsampling [B, H, W, C] -> [B, 2H, 2W, C] by reshape + broadcast. Deliberately
 * not tf.image.resizeNearestNeighbor: on tfjs-wasm 4.22 its gradient is wrong for batch > 1.
 */
export const upsampleNearest2x = (x: tf.Tensor4D): tf.Tensor4D => {
  if (hasFused(K.UPSAMPLE2X)) return runFused(K.UPSAMPLE2X, { x }) as tf.Tensor4D
  return tf.tidy(() => {
    // Two rank-4 broadcasts (tfjs's Tile gradient stops at rank 4): columns, then rows.
    const [b, h, w, c] = x.shape
    const cols = x.reshape([b * h, w, 1, c]).broadcastTo([b * h, w, 2, c]).reshape([b * h, 1, 2 * w, c])
    return cols.broadcastTo([b * h, 2, 2 * w, c]).reshape([b, 2 * h, 2 * w, c]) as tf.Tensor4D
  })
}
