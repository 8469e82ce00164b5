// LeNet-style MNIST classifier (LeCun et al. 1998, with ReLU and max pooling as in the PyTorch MNIST
// example): the "judge" of generated digits. Its penultimate layer (after ReLU, `hidden` wide) is
// the feature space of FLD, the Fréchet distance computed on LeNet features instead of Inception ones.
//   conv5x5(C -> c1, pad 2) -> maxpool 2 -> ReLU -> conv5x5(c1 -> c2, pad 2) -> maxpool 2 -> ReLU
//   -> flatten -> Linear(s² c2 -> hidden) -> ReLU  = features [B, hidden]
//   -> Linear(hidden -> classes)                   = logits [B, classes]
// Pooling before ReLU is the same function (max commutes with a monotone map) but has fewer ties at 0.
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../random.ts"
import type { Weights } from "../../artifacts/types.ts"
import { type Conv2dParams, type LinearParams, conv2d, conv2dParams, linear, linearParams } from "./layers.ts"
import { type Model, configRecord, intField, type Architecture, fromWeights } from "./model.ts"
import { upsampleNearest2x } from "./ops.ts"
import { ParamBuilder } from "./params.ts"

export interface ClassifierConfig {
  readonly imageSize: number // 28; divisible by 4
  readonly inChannels: number
  readonly conv1: number // 32
  readonly conv2: number // 64
  readonly hidden: number // 128: the FLD feature dimension
  readonly numClasses: number // 10
}

export const defaultClassifierConfig: ClassifierConfig = { imageSize: 28, inChannels: 1, conv1: 32, conv2: 64, hidden: 128, numClasses: 10 }

export interface ClassifierModel extends Model<ClassifierConfig> {
  /** Penultimate features [B, hidden] of images x [B, S, S, C] in [0, 1]. */
  features(x: tf.Tensor4D): tf.Tensor2D
  /** Class logits [B, numClasses] from features [B, hidden] (the last layer alone). */
  head(features: tf.Tensor2D): tf.Tensor2D
  /** Class logits [B, numClasses] of images. */
  logits(x: tf.Tensor4D): tf.Tensor2D
}

/**
 * 2x2 max pooling, stride 2, [B, H, W, C] -> [B, H/2, W/2, C] (H, W even). Forward: tf.maxPool. Gradient:
 * dy upsampled x2 and masked to the positions equal to their window's max, which are elementwise ops
 * with fast kernels on every backend; tfjs-cpu's MaxPoolGrad (also pipe-native's) walks TensorBuffers
 * and took 700 ms of a 1.6 s LeNet step. Same gradient as MaxPoolGrad except on ties, where every
 * tied maximum gets dy (MaxPoolGrad picks one); pooling before ReLU makes exact ties rare.
 * test/ml/nn/classifier.test.ts checks values and gradients on every backend available.
 */
export const maxPool2x2 = (x: tf.Tensor4D): tf.Tensor4D =>
  tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [xi, save] = args as [tf.Tensor4D, tf.GradSaveFunc]
    const y = tf.maxPool(xi, 2, 2, "valid")
    save([xi, y])
    return {
      value: y,
      gradFunc: (dy, saved) => {
        const [xs, ys] = saved as [tf.Tensor4D, tf.Tensor4D]
        return tf.tidy(() => tf.equal(xs, upsampleNearest2x(ys)).cast("float32").mul(upsampleNearest2x(dy as tf.Tensor4D)))
      },
    }
  })(x) as tf.Tensor4D

interface ClassifierParams {
  readonly conv1: Conv2dParams
  readonly conv2: Conv2dParams
  readonly fc1: LinearParams
  readonly fc2: LinearParams
}

export const validateClassifierConfig = (c: ClassifierConfig): ClassifierConfig => {
  if (c.imageSize % 4 !== 0) throw new Error(`lenet config: imageSize ${c.imageSize} must be divisible by 4 (two 2x2 poolings)`)
  for (const k of ["inChannels", "conv1", "conv2", "hidden", "numClasses"] as const)
    if (!(c[k] >= 1)) throw new Error(`lenet config: ${k} ${c[k]} must be >= 1`)
  return c
}

export const createClassifier = (config: ClassifierConfig, seed: number): ClassifierModel => {
  const c = validateClassifierConfig(config)
  const pb = new ParamBuilder(new Rng(seed).fork("lenet-init"))
  const s = c.imageSize / 4
  const p: ClassifierParams = {
    conv1: conv2dParams(pb, "conv1", c.inChannels, c.conv1, { kernel: 5 }),
    conv2: conv2dParams(pb, "conv2", c.conv1, c.conv2, { kernel: 5 }),
    fc1: linearParams(pb, "fc1", s * s * c.conv2, c.hidden),
    fc2: linearParams(pb, "fc2", c.hidden, c.numClasses),
  }
  const features = (x: tf.Tensor4D): tf.Tensor2D =>
    tf.tidy(() => {
      const h1 = tf.relu(maxPool2x2(conv2d(p.conv1, x)))
      const h2 = tf.relu(maxPool2x2(conv2d(p.conv2, h1)))
      return tf.relu(linear(p.fc1, h2.reshape([x.shape[0], -1]) as tf.Tensor2D))
    })
  const head = (f: tf.Tensor2D): tf.Tensor2D => linear(p.fc2, f)
  const logits = (x: tf.Tensor4D): tf.Tensor2D => tf.tidy(() => head(features(x)))
  return {
    architecture: "lenet",
    config: c,
    variables: pb.variables(),
    features,
    head,
    logits,
    // The Model contract's apply: logits (t is ignored).
    apply: (x) => logits(x as tf.Tensor4D),
  }
}

/** Mean softmax cross-entropy of logits [B, K] against integer labels [B]. */
export const crossEntropy = (logits: tf.Tensor2D, labels: Int32Array): tf.Scalar =>
  tf.tidy(() => {
    const k = logits.shape[1]
    const onehot = tf.oneHot(tf.tensor1d(labels, "int32"), k)
    return tf.logSoftmax(logits).mul(onehot).sum(1).mean().neg() as tf.Scalar
  })

export const decodeClassifierConfig = (json: unknown): ClassifierConfig => {
  const a = "lenet"
  const r = configRecord(a, json)
  return validateClassifierConfig({
    imageSize: intField(a, r, "imageSize"),
    inChannels: intField(a, r, "inChannels"),
    conv1: intField(a, r, "conv1"),
    conv2: intField(a, r, "conv2"),
    hidden: intField(a, r, "hidden"),
    numClasses: intField(a, r, "numClasses"),
  })
}

export const classifierArchitecture: Architecture<ClassifierConfig, ClassifierModel> = { name: "lenet", decodeConfig: decodeClassifierConfig, build: createClassifier }

/** Rebuilds a ClassifierModel from its Weights artifact. */
export const classifierFromWeights = (w: Weights): ClassifierModel => fromWeights(classifierArchitecture, w)
