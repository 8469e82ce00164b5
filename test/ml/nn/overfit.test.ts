// Overfit check on whatever backend selectBackend picks: a small U-Net must drive the noise-
// prediction MSE on 16 fixed noised images down by >= 90% within a bounded number of Adam steps.
// Catches broken gradients anywhere in the stack (a wrong kernel gradient stalls the loss).
import t from "tap"
import * as tf from "@tensorflow/tfjs"
import { selectBackend } from "../../../src/ml/backend/index.ts"
import { type Model, disposeModel } from "../../../src/ml/nn/model.ts"
import { Adam, trainStep } from "../../../src/ml/nn/optim.ts"
import { type UNetConfig, createUNet } from "../../../src/ml/nn/unet.ts"
import { Rng } from "../../../src/ml/random.ts"

const S = 16, N = 16, MAX_STEPS = 400

const cfg: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 16, channelMults: [1, 2], resBlocksPerLevel: 1,
  attentionResolutions: [], dropout: 0, timeEmbedDim: 32, groups: 8, imageSize: S,
}

/** 16 smooth synthetic images in [-1, 1]: a Gaussian blob at a seeded position and width. */
const images = (rng: Rng): Float32Array => {
  const out = new Float32Array(N * S * S)
  for (let n = 0; n < N; n++) {
    const cy = 3 + rng.uniform() * (S - 6), cx = 3 + rng.uniform() * (S - 6), r = 1.5 + rng.uniform() * 3
    for (let y = 0; y < S; y++) for (let x = 0; x < S; x++) {
      out[(n * S + y) * S + x] = 2 * Math.exp(-((y - cy) ** 2 + (x - cx) ** 2) / (2 * r * r)) - 1
    }
  }
  return out
}

t.test(`U-Net overfits 16 noised images: MSE falls by >= 90% within ${MAX_STEPS} steps`, async (t) => {
  const { backend } = await selectBackend()
  const rng = new Rng(2024)
  const x0 = images(rng.fork("images"))
  const eps = rng.fork("noise").normals(N * S * S)
  // x_t = sqrt(abar) x0 + sqrt(1 - abar) eps (DDPM eq. 4) at 16 fixed noise levels abar in [0.2, 0.95].
  const abar = Array.from({ length: N }, (_, i) => 0.2 + (0.75 * i) / (N - 1))
  const xt = new Float32Array(N * S * S)
  for (let i = 0; i < xt.length; i++) {
    const a = abar[Math.floor(i / (S * S))]!
    xt[i] = Math.sqrt(a) * x0[i]! + Math.sqrt(1 - a) * eps[i]!
  }
  const x = tf.tensor4d(xt, [N, S, S, 1]), target = tf.tensor4d(eps, [N, S, S, 1])
  const ts = tf.tensor1d(abar.map((a) => Math.round((1 - a) * 999)))
  const model = createUNet(cfg, 7)
  const opt = new Adam({ lr: 2e-3 })
  const loss = (m: Model) => tf.losses.meanSquaredError(target, m.apply(x, ts)) as tf.Scalar
  const first = trainStep(model, loss, opt).loss
  let last = first, steps = 1
  while (steps < MAX_STEPS && last > 0.1 * first) {
    last = trainStep(model, loss, opt).loss
    steps++
  }
  t.ok(last <= 0.1 * first, `${backend}: MSE ${first.toFixed(4)} -> ${last.toFixed(4)} after ${steps} steps`)
  opt.dispose()
  disposeModel(model)
  tf.dispose([x, target, ts])
})
