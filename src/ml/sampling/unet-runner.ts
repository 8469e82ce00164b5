// src/ml/sampling/unet-runner.ts: a U-Net seen through its stages, the seam where sampling-time features
// reach inside the network. A runner does a full pass (optionally handing back the feature that enters
// decoder stage `keep`) or a shallow pass (encoder stages 0..branch, a given deep feature, decoder from
// `branch` up): DeepCache (src/ml/sampling/deepcache.ts) decides which to run on each step; a ControlNet
// supplies a runner that adds its residuals (src/ml/nn/controlnet.ts). Branches are the U-Net's skip
// connections, 0 = shallowest (src/ml/nn/unet.ts).
import * as tf from "@tensorflow/tfjs"
import type { Conditioning } from "../nn/conditioning.ts"
import { type UNet, unetDecode, unetEmbed, unetEncode, unetMiddle } from "../nn/unet.ts"
import type { ModelFn } from "../samplers/loop.ts"

export interface UNetRunner {
  /** Skip connections (valid branches are 0..branches-1). */
  readonly branches: number
  /** The network output; `kept` is the feature entering decoder stage `keep` (when asked). */
  readonly full: (x: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, keep?: number) => { out: tf.Tensor4D; kept?: tf.Tensor4D }
  /** Encoder stages 0..branch, then the decoder from stage `branch` with `deep` as its input feature. */
  readonly shallow: (x: tf.Tensor4D, t: tf.Tensor1D, cond: Conditioning, branch: number, deep: tf.Tensor4D) => tf.Tensor4D
}

/** The plain U-Net's runner (cond.residuals, when given, are added on full passes and to the shallow skips). */
export const unetRunner = (u: UNet): UNetRunner => ({
  branches: u.branches,
  full: (x, t, cond, keep) =>
    tf.tidy(() => {
      const s = unetEmbed(u.params, u.config, t, cond)
      const { h, skips } = unetEncode(u.params, x, s)
      return unetDecode(u.params, unetMiddle(u.params, h, s), skips, s, {
        ...(cond.residuals === undefined ? {} : { residuals: cond.residuals }),
        ...(keep === undefined ? {} : { keep }),
      })
    }),
  shallow: (x, t, cond, branch, deep) =>
    tf.tidy(() => {
      const s = unetEmbed(u.params, u.config, t, cond)
      const { skips } = unetEncode(u.params, x, s, { upTo: branch + 1 })
      return unetDecode(u.params, deep, skips, s, { from: branch, ...(cond.residuals === undefined ? {} : { residuals: cond.residuals }) }).out
    }),
})

/** Time input [B] filled with the plan's model time. */
export const timeInput = (x: tf.Tensor, modelTime: number): tf.Tensor1D => tf.fill([x.shape[0]!], modelTime, "float32") as tf.Tensor1D

/** A runner's full pass as the sampler's model function. */
export const runnerFn = (r: UNetRunner): ModelFn => (x, modelTime, call) => r.full(x as tf.Tensor4D, timeInput(x, modelTime), call.cond).out
