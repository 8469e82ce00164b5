// train-edge-regression: the reference write-up's baseline for the ControlNet part: a U-Net regressing
// each digit from its Canny edge map with an L1 loss (Adam, lr 1e-3, batch 64; the write-up trains 10
// epochs). No diffusion, no noise: one deterministic output per edge map. The network is the reference
// U-Net at the fixed time t = 0 (src/ml/edge-regression.ts), trained without EMA or clipping as written.
// `regress-edges` applies it to held-out edge maps.
import { Type } from "@sinclair/typebox"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { DatasetType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import { edgePairProblem } from "../src/ml/data/edge-pairs.ts"
import { toSignedUnit } from "../src/ml/data/pixels.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import { trainEdgeRegression } from "../src/ml/edge-regression.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { countParams } from "../src/ml/nn/model.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { batchesPerEpoch, effectiveBatch } from "../src/ml/training/loop.ts"
import { ml, mlAsync, seconds, withModel } from "./_ml.ts"

const u = referenceUNetConfig
const Params = Type.Object({
  steps: Type.Integer({ minimum: 1, default: 1800, description: "Optimizer steps (the write-up's 10 epochs of 60k at batch 64 are 9375)." }),
  batchSize: Type.Integer({ minimum: 1, default: 64 }),
  lr: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: "Adam learning rate (constant)." }),
  seed: Type.Integer({ default: 0, description: "Seeds init and data order." }),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: "Train on the first `limit` pairs only." })),
  baseChannels: Type.Integer({ minimum: 8, multipleOf: 8, default: u.baseChannels, description: "U-Net channels at full resolution (multiple of 8: GroupNorm(8))." }),
  channelMults: Type.Array(Type.Integer({ minimum: 1 }), { minItems: 1, default: [...u.channelMults], description: "U-Net channel multiplier per level." }),
})

export default defineNode({
  kind: "train-edge-regression",
  description: "Baseline: a U-Net (at fixed t = 0) regressing each digit from its edge map with an L1 loss (the reference write-up's recipe).",
  params: Params,
  inputs: { dataset: DatasetType, edges: DatasetType },
  outputs: { model: WeightsType, history: MetricsType },
  heavy: true,
  run: ({ dataset, edges }, p, ctx) =>
    Effect.gen(function* () {
      yield* ml("checking the inputs", () => {
        const problem = edgePairProblem(dataset, edges) ?? (edges.channels === dataset.channels ? undefined : `edges have ${edges.channels} channels, the images ${dataset.channels}`)
        if (problem !== undefined) throw invalidInput(problem)
        const f = 2 ** (p.channelMults.length - 1)
        if (dataset.height % f !== 0 || dataset.width % f !== 0) throw invalidInput(`${p.channelMults.length} U-Net levels need a size divisible by ${f}, got ${dataset.height}x${dataset.width}`)
      })
      const size = dataset.height * dataset.width * dataset.channels
      const count = Math.min(dataset.count, p.limit ?? dataset.count)
      const itemShape = [dataset.height, dataset.width, dataset.channels]
      const config = { ...u, inChannels: dataset.channels, outChannels: dataset.channels, baseChannels: p.baseChannels, channelMults: p.channelMults, imageSize: dataset.height }
      const t0 = seconds()
      const r = yield* withModel("building the U-Net", () => createUNet(config, p.seed), (model) => {
        ctx.log(`U-Net at t = 0 (${countParams(model).toLocaleString("en")} params), ${count} pairs, batch ${effectiveBatch(count, p.batchSize)}, ${p.steps} steps, backend ${tf.getBackend()}`)
        return mlAsync("training", () =>
          trainEdgeRegression(model, {
            count, itemShape,
            inputs: (idx) => toSignedUnit(gatherRows(edges.images, size, idx)),
            targets: (idx) => toSignedUnit(gatherRows(dataset.images, size, idx)),
          }, { steps: p.steps, batchSize: p.batchSize, lr: p.lr, seed: p.seed }, {
            interrupted: ctx.interrupted,
            onStep: (step, total, epoch, loss) => ctx.progress({ phase: "train", step, total, epoch, metrics: { l1: loss } }),
          }))
      })
      const secs = seconds() - t0
      return {
        model: r.weights,
        history: {
          scalars: {
            final_l1: r.finalLoss, final_ema_l1: r.finalSmoothLoss, steps: p.steps, epochs: p.steps / batchesPerEpoch(count, p.batchSize),
            batch_size: effectiveBatch(count, p.batchSize), seconds: secs, images_per_sec: (p.steps * effectiveBatch(count, p.batchSize)) / secs,
          },
          tables: { loss: r.curve },
        },
      }
    }),
})
