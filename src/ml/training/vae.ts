// Training and evaluation of the convolutional VAE (src/ml/nn/vae.ts) with Adam. Images are float32
// [N, S, S, C] in [0, 1], row-major. All randomness from one seed: init, shuffles, reparameterisation.
// Schedules (all optional; without them training is the plain constant-lr, constant-beta ELBO):
//   lr: constant, or a half cosine from lr at step 1 to 0 at the last step (diffusion.ts's
//       learningRateSchedule has the same shape but starts one step into the cosine; not imported, so
//       that train-vae's code version does not depend on the diffusion trainer's)
//   beta: KL warm-up, beta_s = beta * min(1, s / klWarmupSteps) (Bowman et al., arXiv:1511.06349, sec. 3.1:
//         the decoder first learns to use z, so fewer latent dimensions collapse to the prior)
//   EMA: the saved weights are an exponential moving average of the trained ones (the loop's Ema)
import * as tf from "@tensorflow/tfjs"
import type { MetricsTable } from "../../artifacts/types.ts"
import { gatherRows } from "../data/subset.ts"
import { type ReconLoss, type VaeConfig, type VaeModel, bceWithLogitsPerImage, klPerImage, reparameterise, vaeLoss } from "../nn/vae.ts"
import { psnrFromMse } from "../metrics/psnr.ts"
import { Rng } from "../random.ts"
import { batchesPerEpoch, type TrainLoopHooks, trainLoop } from "./loop.ts"

export interface VaeTrainOptions {
  readonly epochs: number
  readonly batchSize: number
  readonly lr: number
  readonly beta: number
  readonly recon: ReconLoss
  readonly seed: number
  /** A loss-curve row (means over the window) every this many steps. */
  readonly logEvery: number
  /** Keep `lr` (the default) or decay it along a half cosine to 0 at the last step. */
  readonly lrDecay?: VaeLrDecay
  /** beta ramps linearly from beta/klWarmupSteps at step 1 to beta at step klWarmupSteps (absent or 0: no ramp). */
  readonly klWarmupSteps?: number
  /** Save an EMA of the weights with this target decay (absent or 0: the trained weights). */
  readonly emaDecay?: number
}

export type VaeLrDecay = "constant" | "cosine"

/** lr (1 + cos(pi (step - 1) / (steps - 1))) / 2 at 1-based step `step`: lr at step 1, 0 at step `steps`. */
export const cosineLr = (lr: number, steps: number) => (step: number): number =>
  steps <= 1 ? lr : (lr * (1 + Math.cos((Math.PI * Math.min(steps - 1, Math.max(0, step - 1))) / (steps - 1)))) / 2

/** The KL weight at 1-based step `step`: beta * min(1, step / klWarmupSteps), or beta without warm-up. */
export const klWeightAt = (beta: number, klWarmupSteps: number, step: number): number =>
  klWarmupSteps > 0 && step < klWarmupSteps ? (beta * step) / klWarmupSteps : beta

const imageShape = (c: VaeConfig): [number, number, number] => [c.imageSize, c.imageSize, c.inChannels]

/**
 * Trains `model` (a fresh createVae(config, seed)) on `images` ([count, S, S, C] in [0, 1]) with the one
 * training loop. Returns the loss curve: columns step, epoch, loss, recon, kl, ema_loss (window means);
 * `loss` is recon + beta_s KL with the step's KL weight. With emaDecay the model ends holding the EMA.
 */
export const trainVae = async (model: VaeModel, images: Float32Array, count: number, o: VaeTrainOptions, hooks: TrainLoopHooks = {}): Promise<MetricsTable> => {
  const rng = new Rng(o.seed)
  const [s, , ch] = imageShape(model.config)
  const rowSize = s * s * ch
  if (images.length !== count * rowSize) throw new RangeError(`trainVae: ${images.length} pixels for ${count} images of ${s}x${s}x${ch}`)
  const noise = rng.fork("reparameterise")
  const steps = o.epochs * batchesPerEpoch(count, o.batchSize, "keep-last")
  const lrDecay = o.lrDecay ?? "constant"
  const emaDecay = o.emaDecay !== undefined && o.emaDecay > 0 ? o.emaDecay : undefined
  const result = await trainLoop(
    model,
    {
      count, batchSize: o.batchSize, steps, batching: "keep-last", rng: rng.fork("shuffle"),
      lr: lrDecay === "constant" ? o.lr : cosineLr(o.lr, steps),
      logEvery: o.logEvery, ...(emaDecay === undefined ? {} : { emaDecay }),
    },
    (indices, info) => {
      const x = tf.tensor4d(gatherRows(images, rowSize, indices), [indices.length, s, s, ch])
      const parts = { recon: NaN, kl: NaN }
      const beta = klWeightAt(o.beta, o.klWarmupSteps ?? 0, info.step)
      return {
        loss: () => {
          const l = vaeLoss(model, x, noise, { recon: o.recon, beta })
          // Read inside the tape: the scalars are freed with the rest of the step's intermediates.
          parts.recon = l.recon.dataSync()[0]!
          parts.kl = l.kl.dataSync()[0]!
          return l.loss
        },
        metrics: () => parts,
      }
    },
    hooks,
  )
  if (result.ema !== undefined) {
    result.ema.copyTo(model)
    result.ema.dispose()
  }
  return result.curve
}

export interface VaeEvaluation {
  /** Batch means of per-image sums, as in training; recon through z = mu (no sampling noise). */
  readonly recon: number
  readonly kl: number
  /** Mean per-pixel squared error of sigmoid(decode(mu)) against the input. */
  readonly mse: number
  /** Mean over images of the per-image PSNR (data range 1). */
  readonly psnr: number
  /**
   * Active latent dimensions: those whose posterior mean varies across the images, Var_x(mu_d) > 0.01
   * (the criterion of Burda et al., arXiv:1509.00519, sec. 5.2); the others have collapsed to the prior.
   */
  readonly activeDims: number
  readonly reconstructions: Float32Array // [N, S, S, C] in [0, 1]
}

/** Deterministic evaluation on held-out images: recon loss, KL, MSE, PSNR and the reconstructions. */
export const evaluateVae = (model: VaeModel, images: Float32Array, count: number, recon: ReconLoss, batchSize: number): VaeEvaluation => {
  const [s, , ch] = imageShape(model.config)
  const rowSize = s * s * ch
  const out = new Float32Array(count * rowSize)
  const D = model.config.latentDim
  const muSum = new Float64Array(D)
  const muSqSum = new Float64Array(D)
  let reconSum = 0
  let klSum = 0
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start)
    const [r, k, y, m] = tf.tidy(() => {
      const x = tf.tensor4d(images.subarray(start * rowSize, (start + n) * rowSize), [n, s, s, ch])
      const { mu, logvar } = model.encode(x)
      const logits = model.decodeLogits(mu)
      const pix = tf.sigmoid(logits)
      const rec = recon === "bce" ? bceWithLogitsPerImage(logits, x) : pix.sub(x).square().sum([1, 2, 3])
      return [rec.sum(), klPerImage(mu, logvar).sum(), pix, mu]
    })
    reconSum += r!.dataSync()[0]!
    klSum += k!.dataSync()[0]!
    out.set(y!.dataSync() as Float32Array, start * rowSize)
    const mu = m!.dataSync()
    mu.forEach((v, i) => {
      muSum[i % D] = muSum[i % D]! + v
      muSqSum[i % D] = muSqSum[i % D]! + v * v
    })
    tf.dispose([r!, k!, y!, m!])
  }
  let activeDims = 0
  for (let d = 0; d < D; d++) if (muSqSum[d]! / count - (muSum[d]! / count) ** 2 > 0.01) activeDims++
  let mseSum = 0
  let psnrSum = 0
  for (let i = 0; i < count; i++) {
    let e = 0
    for (let j = i * rowSize; j < (i + 1) * rowSize; j++) e += (out[j]! - images[j]!) ** 2
    mseSum += e / rowSize
    psnrSum += psnrFromMse(e / rowSize, 1)
  }
  return { recon: reconSum / count, kl: klSum / count, mse: mseSum / count, psnr: psnrSum / count, activeDims, reconstructions: out }
}

/** Encodes images to latents [N, D]: the posterior mean, or one sample z = mu + sigma eps from `rng`. */
export const encodeImages = (
  model: VaeModel, images: Float32Array, count: number, mode: "mean" | "sample", rng: Rng, batchSize: number,
): Float32Array => {
  const [s, , ch] = imageShape(model.config)
  const rowSize = s * s * ch
  const D = model.config.latentDim
  const out = new Float32Array(count * D)
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start)
    const z = tf.tidy(() => {
      const { mu, logvar } = model.encode(tf.tensor4d(images.subarray(start * rowSize, (start + n) * rowSize), [n, s, s, ch]))
      return mode === "mean" ? mu : reparameterise(mu, logvar, rng)
    })
    out.set(z.dataSync() as Float32Array, start * D)
    z.dispose()
  }
  return out
}

/** Decodes latents [N, D] to images [N, S, S, C] in [0, 1]. */
export const decodeLatents = (model: VaeModel, z: Float32Array, count: number, batchSize: number): Float32Array => {
  const [s, , ch] = imageShape(model.config)
  const rowSize = s * s * ch
  const D = model.config.latentDim
  if (z.length !== count * D) throw new RangeError(`decodeLatents: ${z.length} values for ${count} latents of dim ${D}`)
  const out = new Float32Array(count * rowSize)
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start)
    const y = tf.tidy(() => model.decode(tf.tensor2d(z.subarray(start * D, (start + n) * D), [n, D])))
    out.set(y.dataSync() as Float32Array, start * rowSize)
    y.dispose()
  }
  return out
}
