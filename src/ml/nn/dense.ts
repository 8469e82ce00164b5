// The fused dense layer (+ SiLU) of pipe-native, property-tested against plain tfjs in
// test/ml/backend/kernels.test.ts. The latent MLP (mlp.ts) is built on it; layers.ts `linear` (U-Net,
// VAE, judge) is not yet: switching it would change those models' keys, so it waits for a change
// that retrains them anyway.
import * as tf from "@tensorflow/tfjs"
import * as D from "../backend/dense-kernel-names.ts"
import { hasFused, silu } from "./ops.ts"

/**
 * Dense layer y = x W + b, optionally followed by SiLU: x [B, in], w [in, out], b [out]. On
 * pipe-native one fused kernel each way (forward: GEMM + bias + SiLU; backward: dW, db and the SiLU
 * slope in one pass), which is what makes small MLP steps fast; elsewhere tf.fused.matMul (+ silu).
 */
export const dense = (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, o: { readonly silu?: boolean } = {}): tf.Tensor2D => {
  const act = o.silu === true
  if (hasFused(D.LINEAR)) {
    // With silu the kernel also returns z (kept for the gradient); tidy frees the caller's copy.
    return tf.tidy(() => {
      const r = tf.engine().runKernel(D.LINEAR, { x, w, b }, { silu: act } as unknown as tf.NamedAttrMap)
      return (Array.isArray(r) ? r[0]! : r) as tf.Tensor2D
    })
  }
  const y = tf.fused.matMul({ a: x, b: w, bias: b }) as tf.Tensor2D
  return act ? tf.tidy(() => silu(y)) : y
}
