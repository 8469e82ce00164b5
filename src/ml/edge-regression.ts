// src/ml/edge-regression.ts: the reference write-up's "ControlNet" baseline, which is a direct regression
// and no diffusion: a U-Net maps a Canny edge map straight to its digit, trained with an L1 loss (Adam,
// lr 1e-3, batch 64). The network is the reference U-Net (src/ml/nn/unet.ts) evaluated at the fixed
// time t = 0: its time MLP then sees a constant input, so every ResBlock's time projection is just a
// learned per-channel bias, i.e. a plain U-Net with the base's layout and size (624,481 parameters).
// Shapes: edges and digits [B, H, W, 1] scaled to [-1, 1] (the U-Net's data range); the loss is
// mean |ŷ - x| / 2, the L1 in [0, 1] pixel units, so it reads as the held-out L1 of score-control.
import * as tf from "@tensorflow/tfjs"
import type { MetricsTable, Weights } from "../artifacts/types.ts"
import { invalidInput } from "./errors.ts"
import { configRecord, disposeModel, loadWeights, modelToWeights } from "./nn/model.ts"
import { createUNet, decodeUNetConfig, type UNet, type UNetConfig } from "./nn/unet.ts"
import { Rng } from "./random.ts"
import { trainLoop } from "./training/loop.ts"

export const EDGE_REGRESSION_ARCHITECTURE = "edge-regression"

/** ŷ = U-Net(edges, t = 0), in [-1, 1] units (unclamped). */
export const regress = (u: UNet, edges: tf.Tensor4D): tf.Tensor4D =>
  tf.tidy(() => u.apply(edges, tf.zeros([edges.shape[0]]) as tf.Tensor1D) as tf.Tensor4D)

/** Pairs (edge map, digit), both [H, W, C] items in [-1, 1], gathered by item index. */
export interface RegressionSet {
  readonly count: number
  readonly itemShape: readonly number[]
  readonly inputs: (indices: ArrayLike<number>) => Float32Array
  readonly targets: (indices: ArrayLike<number>) => Float32Array
}

export interface RegressionOptions {
  readonly steps: number
  readonly batchSize: number
  readonly lr: number
  readonly seed: number
}

export interface RegressionResult {
  readonly weights: Weights
  /** step, epoch, loss (window means of the L1), ema_loss */
  readonly curve: MetricsTable
  readonly finalLoss: number
  readonly finalSmoothLoss: number
}

/** Trains `u` (plain Adam, no clipping, no EMA: the write-up's recipe) and returns its weights as an edge regression. */
export const trainEdgeRegression = async (
  u: UNet, set: RegressionSet, o: RegressionOptions,
  hooks: { readonly onStep?: (step: number, total: number, epoch: number, loss: number) => void; readonly interrupted?: () => boolean } = {},
): Promise<RegressionResult> => {
  const rng = new Rng(o.seed)
  const batch = (f: (idx: ArrayLike<number>) => Float32Array, idx: Int32Array) => tf.tensor4d(f(idx), [idx.length, ...set.itemShape] as [number, number, number, number])
  const r = await trainLoop(
    u,
    { count: set.count, batchSize: o.batchSize, steps: o.steps, batching: "drop-last", rng: rng.fork("train/order"), lr: o.lr, logEvery: Math.max(1, Math.ceil(o.steps / 500)) },
    (idx) => ({ loss: () => tf.tidy(() => regress(u, batch(set.inputs, idx)).sub(batch(set.targets, idx)).abs().mean().mul(0.5) as tf.Scalar) }),
    {
      ...(hooks.interrupted === undefined ? {} : { interrupted: hooks.interrupted }),
      onStep: (info, m) => hooks.onStep?.(info.step, info.total, info.epoch, m.ema_loss ?? Number.NaN),
    },
  )
  const w = modelToWeights(u)
  return { weights: { ...w, architecture: EDGE_REGRESSION_ARCHITECTURE, config: { unet: w.config, t: 0 } }, curve: r.curve, finalLoss: r.finalLoss, finalSmoothLoss: r.finalSmoothLoss }
}

/** The U-Net of an edge-regression Weights artifact. */
export const edgeRegressionFromWeights = (w: Weights): UNet => {
  if (w.architecture !== EDGE_REGRESSION_ARCHITECTURE) throw invalidInput(`expected an edge regression (train-edge-regression), got weights of architecture "${w.architecture}"`)
  const config: UNetConfig = decodeUNetConfig(configRecord(EDGE_REGRESSION_ARCHITECTURE, w.config).unet)
  const u = createUNet(config, 0)
  try {
    loadWeights(u, w)
  } catch (e) {
    disposeModel(u)
    throw e
  }
  return u
}

/** ŷ for `count` items, in batches, as [0, 1] pixels (clamped): the regressed digits. */
export const regressAll = (u: UNet, inputs: (indices: ArrayLike<number>) => Float32Array, count: number, itemShape: readonly number[], batchSize: number): Float32Array => {
  const size = itemShape.reduce((a, b) => a * b, 1)
  const out = new Float32Array(count * size)
  for (let first = 0; first < count; first += batchSize) {
    const idx = Int32Array.from({ length: Math.min(batchSize, count - first) }, (_, k) => first + k)
    const y = tf.tidy(() => regress(u, tf.tensor4d(inputs(idx), [idx.length, ...itemShape] as [number, number, number, number])).clipByValue(-1, 1).add(1).div(2))
    out.set(y.dataSync(), first * size)
    y.dispose()
  }
  return out
}
