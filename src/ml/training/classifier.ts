// Training and evaluation of the LeNet judge (src/ml/nn/classifier.ts): Adam on softmax cross-entropy
// (constant lr, or warm-up + cosine decay: lr-schedule.ts),
// with optional seeded random shifts (the classic MNIST augmentation: translations by a few pixels,
// zero fill). Images are float32 [N, S, S, C] in [0, 1], labels uint8 [N].
import * as tf from "@tensorflow/tfjs"
import type { MetricsTable } from "../../artifacts/types.ts"
import { gatherRows } from "../data/subset.ts"
import { type ClassifierModel, crossEntropy } from "../nn/classifier.ts"
import { argmaxRows } from "../metrics/classes.ts"
import { Rng } from "../random.ts"
import { batchesPerEpoch, type TrainLoopHooks, trainLoop } from "./loop.ts"
import { type LrDecay, lrSchedule } from "./lr-schedule.ts"

export type Augment = "none" | "shift"

export interface ClassifierTrainOptions {
  readonly epochs: number
  /** Optimizer steps; overrides `epochs` (a budget between whole epochs). */
  readonly steps?: number
  readonly batchSize: number
  readonly lr: number
  /** Linear lr warm-up steps (default 0). */
  readonly warmupSteps?: number
  /** After the warm-up: keep `lr` (default) or decay it along a half cosine to 0 at the last step. */
  readonly lrDecay?: LrDecay
  readonly seed: number
  readonly augment: Augment
  /** Largest shift in pixels along each axis for augment "shift" (uniform in -maxShift..maxShift). */
  readonly maxShift: number
  /** A loss-curve row (window means) every this many steps. */
  readonly logEvery: number
}

/**
 * Shifts each [S, S, C] image of a batch by (dy, dx), filling with 0: out[y, x] = in[y - dy, x - dx].
 * shifts holds [dy, dx] per image.
 */
export const shiftImages = (batch: Float32Array, count: number, size: number, channels: number, shifts: Int32Array): Float32Array => {
  const row = size * size * channels
  const out = new Float32Array(batch.length)
  for (let i = 0; i < count; i++) {
    const dy = shifts[2 * i]!
    const dx = shifts[2 * i + 1]!
    if (Math.abs(dx) >= size) continue // shifted out entirely: all zero
    for (let y = Math.max(0, dy); y < Math.min(size, size + dy); y++) {
      const from = i * row + ((y - dy) * size + Math.max(0, -dx)) * channels
      const to = i * row + (y * size + Math.max(0, dx)) * channels
      out.set(batch.subarray(from, from + (size - Math.abs(dx)) * channels), to)
    }
  }
  return out
}

const randomShifts = (count: number, maxShift: number, rng: Rng): Int32Array =>
  Int32Array.from({ length: 2 * count }, () => rng.int(2 * maxShift + 1) - maxShift)

/**
 * Trains `model` (a fresh createClassifier(config, seed)) with the one training loop. Returns the curve:
 * columns step, epoch, loss, accuracy (on the augmented training batches), ema_loss (window means).
 */
export const trainClassifier = async (
  model: ClassifierModel, images: Float32Array, labels: Uint8Array, count: number, o: ClassifierTrainOptions, hooks: TrainLoopHooks = {},
): Promise<MetricsTable> => {
  const rng = new Rng(o.seed)
  const { imageSize: s, inChannels: ch, numClasses } = model.config
  const rowSize = s * s * ch
  if (images.length !== count * rowSize || labels.length !== count)
    throw new RangeError(`trainClassifier: ${images.length} pixels / ${labels.length} labels for ${count} images of ${s}x${s}x${ch}`)
  const augmentRng = rng.fork("augment")
  const steps = o.steps ?? o.epochs * batchesPerEpoch(count, o.batchSize, "keep-last")
  const lr = lrSchedule({ lr: o.lr, warmupSteps: o.warmupSteps ?? 0, decay: o.lrDecay ?? "constant", steps })
  const result = await trainLoop(
    model,
    { count, batchSize: o.batchSize, steps, batching: "keep-last", rng: rng.fork("shuffle"), lr, logEvery: o.logEvery },
    (indices) => {
      const n = indices.length
      let pixels = gatherRows(images, rowSize, indices)
      if (o.augment === "shift" && o.maxShift > 0) pixels = shiftImages(pixels, n, s, ch, randomShifts(n, o.maxShift, augmentRng))
      const y = Int32Array.from(indices, (i) => labels[i]!)
      const x = tf.tensor4d(pixels, [n, s, s, ch])
      const acc = { accuracy: NaN }
      return {
        loss: () => {
          const logits = model.logits(x)
          const pred = argmaxRows(logits.dataSync(), n, numClasses)
          acc.accuracy = pred.reduce((a, p, i) => a + (p === y[i] ? 1 : 0), 0) / n
          return crossEntropy(logits, y)
        },
        metrics: () => acc,
      }
    },
    hooks,
  )
  return result.curve
}

export interface ClassifierOutputs {
  readonly features: Float32Array // [N, hidden]
  readonly predictions: Int32Array // [N] argmax class
}

/** Penultimate features and predicted classes of images [count, S, S, C] in [0, 1], in batches. */
export const classify = (model: ClassifierModel, images: Float32Array, count: number, batchSize: number): ClassifierOutputs => {
  const { imageSize: s, inChannels: ch, hidden, numClasses } = model.config
  const rowSize = s * s * ch
  if (images.length !== count * rowSize) throw new RangeError(`classify: ${images.length} pixels for ${count} images of ${s}x${s}x${ch}`)
  const features = new Float32Array(count * hidden)
  const predictions = new Int32Array(count)
  for (let start = 0; start < count; start += batchSize) {
    const n = Math.min(batchSize, count - start)
    const [f, l] = tf.tidy(() => {
      const feats = model.features(tf.tensor4d(images.subarray(start * rowSize, (start + n) * rowSize), [n, s, s, ch]))
      return [feats, model.head(feats)]
    })
    features.set(f!.dataSync() as Float32Array, start * hidden)
    predictions.set(argmaxRows(l!.dataSync(), n, numClasses), start)
    tf.dispose([f!, l!])
  }
  return { features, predictions }
}
