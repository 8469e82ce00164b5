// train-vae: trains the convolutional VAE of src/ml/nn/vae.ts (the first stage of latent diffusion) with
// Adam. Held-out metrics come from the optional `test` dataset, or else from a seeded held-out split
// of `dataset` (those images are then not trained on). Outputs the weights, a metrics artifact (loss
// curve; test recon loss, KL, MSE, PSNR) and a PNG grid of held-out originals beside reconstructions.
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, optional } from "../src/node.ts"
import { DatasetType, FileType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import type { Dataset } from "../src/artifacts/types.ts"
import { composeGrid, defaultGridOptions } from "../src/ml/image/grid.ts"
import { encodePng } from "../src/ml/image/png.ts"
import { countParams, modelToWeights } from "../src/ml/nn/model.ts"
import { createVae, type VaeConfig } from "../src/ml/nn/vae.ts"
import { Rng } from "../src/ml/random.ts"
import { toUnitFloat } from "../src/ml/data/pixels.ts"
import { gatherRows, holdoutSplit } from "../src/ml/data/subset.ts"
import { evaluateVae, trainVae } from "../src/ml/training/vae.ts"
import { ml, mlAsync, reject, trainingHooks, withModel } from "./_ml.ts"

const Params = Type.Object({
  latentDim: Type.Integer({ minimum: 1, maximum: 1024, default: 16, description: "Latent dimension D." }),
  channels: Type.Array(Type.Integer({ minimum: 1 }), {
    minItems: 1, maxItems: 4, default: [16, 32, 32],
    description: "Conv widths per resolution level (28, 14, 7, ...); each a multiple of `groups`.",
  }),
  groups: Type.Integer({ minimum: 1, default: 8, description: "GroupNorm groups." }),
  epochs: Type.Integer({ minimum: 1, default: 2, description: "Passes over the training images (469 steps each for 60k at batch 128)." }),
  batchSize: Type.Integer({ minimum: 1, default: 128 }),
  lr: Type.Number({ exclusiveMinimum: 0, default: 1e-3, description: "Adam learning rate." }),
  lrDecay: Type.Union([Type.Literal("constant"), Type.Literal("cosine")], {
    default: "constant", description: "Keep `lr`, or decay it along a half cosine to 0 at the last step.",
  }),
  beta: Type.Number({ minimum: 0, default: 1, description: "Weight of the KL term (beta-VAE); 1 is the ELBO." }),
  klWarmupSteps: Type.Integer({ minimum: 0, default: 0, description: "KL warm-up: beta ramps linearly from 0 to `beta` over this many steps (0: none)." }),
  emaDecay: Type.Number({ minimum: 0, exclusiveMaximum: 1, default: 0, description: "Save an EMA of the weights with this decay (0: the trained weights)." }),
  loss: Type.Union([Type.Literal("bce"), Type.Literal("mse")], {
    default: "bce", description: "Reconstruction term: Bernoulli BCE on logits, or squared error of sigmoid(logits).",
  }),
  seed: Type.Integer({ default: 0, description: "Seeds init, shuffling, the held-out split and the reparameterisation noise." }),
  testCount: Type.Integer({
    minimum: 1, default: 1000,
    description: "Held-out images for the metrics: the first testCount of `test`, or a seeded split of `dataset`.",
  }),
  gridItems: Type.Integer({ minimum: 1, maximum: 256, default: 32, description: "Original/reconstruction pairs in the PNG grid (8 per row)." }),
  logEvery: Type.Integer({ minimum: 1, default: 20, description: "Steps per loss-curve row (means over the window)." }),
})

/** Pixels in [0, 1] of all images, or of rows `indices` (gathered as uint8 first: 4x less copying). */
const unitPixels = (d: Dataset, indices?: Int32Array): Float32Array =>
  toUnitFloat(indices === undefined ? d.images : gatherRows(d.images, d.height * d.width * d.channels, indices))

/** 8-bit raster rows of one image for the grid. */
const toRaster = (pixels: Float32Array, i: number, size: number) => {
  const n = size * size
  const px = new Uint8Array(n)
  for (let j = 0; j < n; j++) px[j] = Math.round(Math.min(1, Math.max(0, pixels[i * n + j]!)) * 255)
  return { height: size, width: size, channels: 1 as const, pixels: px }
}

export default defineNode({
  kind: "train-vae",
  description: "Trains a convolutional VAE (reconstruction + beta KL) with Adam; weights, metrics and a recon grid.",
  params: Params,
  inputs: { dataset: DatasetType, test: optional(DatasetType) },
  outputs: { vae: WeightsType, metrics: MetricsType, recon: FileType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const d = inputs.dataset
      if (d.height !== d.width) return yield* reject(`train-vae needs square images, got ${d.height}x${d.width}`)
      const config: VaeConfig = { imageSize: d.height, inChannels: d.channels, channels: p.channels, latentDim: p.latentDim, groups: p.groups }
      const levels = p.channels.length - 1
      if (d.height % (1 << levels) !== 0)
        return yield* reject(`${p.channels.length} levels halve ${d.height}x${d.height} ${levels} times: not divisible by ${1 << levels}`)
      const bad = p.channels.find((c) => c % p.groups !== 0)
      if (bad !== undefined) return yield* reject(`channel width ${bad} is not a multiple of groups ${p.groups}`)

      // The data: all of `dataset` plus `test`, or a seeded held-out split of `dataset`.
      let train: { pixels: Float32Array; count: number }
      let test: { pixels: Float32Array; count: number }
      if (inputs.test !== undefined) {
        const t = inputs.test
        if (t.height !== d.height || t.width !== d.width || t.channels !== d.channels)
          return yield* reject(`test images are ${t.height}x${t.width}x${t.channels}, dataset images ${d.height}x${d.width}x${d.channels}`)
        const n = Math.min(p.testCount, t.count)
        train = { pixels: unitPixels(d), count: d.count }
        test = { pixels: unitPixels(t, Int32Array.from({ length: n }, (_, i) => i)), count: n }
      } else {
        if (d.count < 2) return yield* reject(`train-vae needs at least 2 images to hold one out, got ${d.count}`)
        const split = holdoutSplit(d.count, p.testCount, new Rng(p.seed).fork("holdout"))
        train = { pixels: unitPixels(d, split.train), count: split.train.length }
        test = { pixels: unitPixels(d, split.test), count: split.test.length }
      }

      const started = performance.now()
      const { vae, params, curve, ev } = yield* withModel("building the VAE", () => createVae(config, p.seed), (model) =>
        Effect.gen(function* () {
          const curve = yield* mlAsync("train-vae", () =>
            trainVae(model, train.pixels, train.count, {
              epochs: p.epochs, batchSize: p.batchSize, lr: p.lr, lrDecay: p.lrDecay, beta: p.beta, klWarmupSteps: p.klWarmupSteps,
              emaDecay: p.emaDecay, recon: p.loss, seed: p.seed, logEvery: p.logEvery,
            }, trainingHooks(ctx, Math.max(1, Math.min(p.logEvery, 10)))))
          ctx.log(`trained ${countParams(model)} parameters on ${train.count} images in ${((performance.now() - started) / 1000).toFixed(1)} s`)
          const ev = yield* ml("evaluating the VAE", () => evaluateVae(model, test.pixels, test.count, p.loss, p.batchSize))
          return { vae: modelToWeights(model), params: countParams(model), curve, ev }
        }))
      const shown = Math.min(p.gridItems, test.count)
      const cols = Math.min(8, shown)
      const grid = composeGrid(
        Array.from({ length: shown }, (_, i) => ({ images: [toRaster(test.pixels, i, d.height), toRaster(ev.reconstructions, i, d.height)] })),
        { ...defaultGridOptions, rows: Math.ceil(shown / cols), cols },
      )
      const last = curve.rows[curve.rows.length - 1]
      const metrics = {
        scalars: {
          test_recon: ev.recon, test_kl: ev.kl, test_loss: ev.recon + p.beta * ev.kl, test_mse: ev.mse, test_psnr: ev.psnr, test_active_dims: ev.activeDims,
          test_count: test.count, train_count: train.count, params,
          ...(last === undefined ? {} : { train_loss: Number(last[2]), train_recon: Number(last[3]), train_kl: Number(last[4]) }),
        },
        tables: { curve },
      }
      return { vae, metrics, recon: { name: "recon.png", mediaType: "image/png", bytes: encodePng(grid) } }
    }),
})
