// train-classifier: trains the LeNet judge of src/ml/nn/classifier.ts (softmax cross-entropy, Adam,
// optional seeded random shifts). Its penultimate features define FLD in the `score` node. Metrics: the
// training loss/accuracy curve and, when a `test` dataset is connected, test accuracy (overall and per class).
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, optional } from "../src/node.ts"
import { DatasetType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import type { Metrics } from "../src/artifacts/types.ts"
import { accuracy, perClassAccuracy } from "../src/ml/metrics/classes.ts"
import { type ClassifierConfig, createClassifier } from "../src/ml/nn/classifier.ts"
import { countParams, modelToWeights } from "../src/ml/nn/model.ts"
import { toUnitFloat } from "../src/ml/data/pixels.ts"
import { classify, trainClassifier } from "../src/ml/training/classifier.ts"
import { ml, mlAsync, reject, trainingHooks, withModel } from "./_ml.ts"

const Params = Type.Object({
  epochs: Type.Integer({ minimum: 1, default: 3, description: "Passes over the training images; ignored when `steps` is set." }),
  steps: Type.Optional(Type.Integer({ minimum: 1, description: "Optimizer steps; overrides epochs (938 steps = one epoch of 60k at batch 64)." })),
  batchSize: Type.Integer({ minimum: 1, default: 64 }),
  lr: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: "Adam learning rate (the peak, with warm-up or decay)." }),
  warmupSteps: Type.Integer({ minimum: 0, default: 0, description: "Linear lr warm-up steps." }),
  lrDecay: Type.Union([Type.Literal("constant"), Type.Literal("cosine")], {
    default: "constant", description: "After the warm-up: keep lr, or decay it along a half cosine to 0 at the last step.",
  }),
  seed: Type.Integer({ default: 0, description: "Seeds init, shuffling and the augmentation shifts." }),
  augment: Type.Union([Type.Literal("none"), Type.Literal("shift")], {
    default: "shift", description: "\"shift\": translate each training image by up to maxShift pixels per axis (zero fill).",
  }),
  maxShift: Type.Integer({ minimum: 0, maximum: 8, default: 2 }),
  conv1: Type.Integer({ minimum: 1, default: 32, description: "Filters of the first 5x5 conv." }),
  conv2: Type.Integer({ minimum: 1, default: 64, description: "Filters of the second 5x5 conv." }),
  hidden: Type.Integer({ minimum: 1, default: 128, description: "Width of the penultimate layer: the FLD feature dimension." }),
  logEvery: Type.Integer({ minimum: 1, default: 50, description: "Steps per loss-curve row (means over the window)." }),
  batchSizeEval: Type.Integer({ minimum: 1, default: 500, description: "Batch size of the test-set evaluation." }),
})

export default defineNode({
  kind: "train-classifier",
  description: "Trains a LeNet-style MNIST classifier (the judge whose penultimate features define FLD).",
  params: Params,
  inputs: { dataset: DatasetType, test: optional(DatasetType) },
  outputs: { classifier: WeightsType, metrics: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const d = inputs.dataset
      if (d.height !== d.width || d.height % 4 !== 0)
        return yield* reject(`the judge needs square images with a side divisible by 4, got ${d.height}x${d.width}`)
      const numClasses = 10
      const badLabel = d.labels.find((l) => l >= numClasses)
      if (badLabel !== undefined) return yield* reject(`label ${badLabel} is outside 0..${numClasses - 1}`)
      const config: ClassifierConfig = { imageSize: d.height, inChannels: d.channels, conv1: p.conv1, conv2: p.conv2, hidden: p.hidden, numClasses }

      const t = inputs.test
      if (t !== undefined && (t.height !== d.height || t.width !== d.width || t.channels !== d.channels))
        return yield* reject(`test images are ${t.height}x${t.width}x${t.channels}, training images ${d.height}x${d.width}x${d.channels}`)

      const started = performance.now()
      return yield* withModel("building the judge", () => createClassifier(config, p.seed), (model) =>
        Effect.gen(function* () {
          const curve = yield* mlAsync("train-classifier", () =>
            trainClassifier(model, toUnitFloat(d.images), d.labels, d.count, {
              epochs: p.epochs, ...(p.steps === undefined ? {} : { steps: p.steps }), batchSize: p.batchSize, lr: p.lr, warmupSteps: p.warmupSteps, lrDecay: p.lrDecay,
              seed: p.seed, augment: p.augment, maxShift: p.maxShift, logEvery: p.logEvery,
            }, trainingHooks(ctx, Math.max(1, Math.min(p.logEvery, 10)))))
          ctx.log(`trained ${countParams(model)} parameters on ${d.count} images in ${((performance.now() - started) / 1000).toFixed(1)} s`)
          const scalars: Record<string, number> = { params: countParams(model), train_count: d.count }
          const tables: Record<string, Metrics["tables"][string]> = { curve }
          if (t !== undefined) {
            const { predictions } = yield* ml("evaluating the judge", () => classify(model, toUnitFloat(t.images), t.count, p.batchSizeEval))
            scalars.test_accuracy = accuracy(predictions, t.labels)
            scalars.test_count = t.count
            const per = perClassAccuracy(predictions, t.labels, numClasses)
            tables.test_per_class = { columns: ["class", "accuracy"], rows: Array.from(per, (a, k) => [k, a]) }
            ctx.log(`test accuracy ${(100 * scalars.test_accuracy).toFixed(2)}% on ${t.count} images`)
          }
          return { classifier: modelToWeights(model), metrics: { scalars, tables } }
        }))
    }),
})
