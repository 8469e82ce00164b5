// Training and evaluation of the LeNet judge (src/ml/nn/classifier.ts): Adam on softmax cross-entropy,
// with optional seeded random shifts (the classic MNIST augmentation: translations by a few pixels,
// zero fill). Images are float32 [N, S, S, C] in [0, 1], labels uint8 [N].
import * as tf from "@tensorflow/tfjs"
import type { MetricsTable } from "../../artifacts/types.ts"
import { type ClassifierConfig, type ClassifierModel, createClassifier, crossEntropy } from "../nn/classifier.ts"
import { Adam, trainStep } from "../nn/optim.ts"
import { argmaxRows } from "../metrics/classes.ts"
import { Rng } from "../random.ts"
import { type LoopHooks, type LoopOutcome, gatherFloatRows, runMinibatches } from "./minibatch.ts"

export type Augment = "none" | "shift"

export interface ClassifierTrainOptions {
  readonly config: ClassifierConfig
  readonly epochs: number
  readonly batchSize: number
  readonly lr: number
  readonly seed: number
  readonly augment: Augment
  /** Largest shift in pixels along each axis for augment "shift" (uniform in -maxShift..maxShift). */
  readonly maxShift: number
  /** A loss-curve row (window means) every this many steps. */
  readonly logEvery: number
}

export interface ClassifierTrainResult {
  readonly model: ClassifierModel
  readonly outcome: LoopOutcome
  /** Columns step, epoch, loss, accuracy (on the training batches, augmented). */
  readonly curve: MetricsTable
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

/** Trains a fresh classifier. The caller disposes the model. */
export const trainClassifier = async (
  images: Float32Array, labels: Uint8Array, count: number, o: ClassifierTrainOptions, hooks: LoopHooks,
): Promise<ClassifierTrainResult> => {
  const rng = new Rng(o.seed)
  const model = createClassifier(o.config, o.seed)
  const s = o.config.imageSize
  const ch = o.config.inChannels
  const rowSize = s * s * ch
  if (images.length !== count * rowSize || labels.length !== count)
    throw new RangeError(`trainClassifier: ${images.length} pixels / ${labels.length} labels for ${count} images of ${s}x${s}x${ch}`)
  const optimizer = new Adam({ lr: o.lr })
  const augmentRng = rng.fork("augment")
  const rows: (readonly number[])[] = []
  const window = { n: 0, loss: 0, acc: 0 }
  const outcome = await runMinibatches(
    { count, epochs: o.epochs, batchSize: o.batchSize, rng: rng.fork("shuffle"), progressEvery: Math.max(1, Math.min(o.logEvery, 10)) },
    (indices, info) => {
      const n = indices.length
      let pixels = gatherFloatRows(images, rowSize, indices)
      if (o.augment === "shift" && o.maxShift > 0) pixels = shiftImages(pixels, n, s, ch, randomShifts(n, o.maxShift, augmentRng))
      const y = Int32Array.from(indices, (i) => labels[i]!)
      const x = tf.tensor4d(pixels, [n, s, s, ch])
      const acc = { value: NaN }
      const { loss } = trainStep(model, () => {
        const logits = model.logits(x)
        const pred = argmaxRows(logits.dataSync(), n, o.config.numClasses)
        acc.value = pred.reduce((a, p, i) => a + (p === y[i] ? 1 : 0), 0) / n
        return crossEntropy(logits, y)
      }, optimizer)
      x.dispose()
      window.n++
      window.loss += loss
      window.acc += acc.value
      if (info.step % o.logEvery === 0 || info.step === info.total) {
        rows.push([info.step, info.epoch, window.loss / window.n, window.acc / window.n])
        Object.assign(window, { n: 0, loss: 0, acc: 0 })
      }
      return { loss, accuracy: acc.value }
    },
    hooks,
  )
  optimizer.dispose()
  return { model, outcome, curve: { columns: ["step", "epoch", "loss", "accuracy"], rows } }
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
