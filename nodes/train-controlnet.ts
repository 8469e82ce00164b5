// train-controlnet: trains a ControlNet (Zhang et al., ICCV 2023, arXiv:2302.05543; src/ml/nn/controlnet.ts)
// that steers a frozen, trained pixel U-Net (`base`, from train-diffusion) with per-image control maps
// (`edges`, the canny node's dataset of the same images as `dataset`). Only the ControlNet learns: the
// copy of the base's encoder and middle block (initialised from the base), the conditioning encoder and
// the zero convolutions; the loss is the base's own objective (ε- or velocity-MSE, read from its
// diffusion metadata) through the one diffusion loop (src/ml/training/diffusion.ts). The output weights
// hold only the ControlNet, name the base by its weights digest, and carry the base's diffusion
// metadata, so `sample` (inputs `model` = the base, `controlnet`, `control`) knows the objective.
// Condition dropout: the paper drops the *text prompt* of half the training images (sec. 3.3, "we
// randomly replace 50% text prompts c_t with empty strings") so the ControlNet learns to read the control
// image alone; it never drops the control image. Here the prompt's counterpart is the class label of a
// class-conditional base (pUncond, default 0.5 as the paper); `pDropControl` (default 0, as the paper)
// zeroes the control image instead, for a ControlNet that also copes with a blank map.
import { Type } from "@sinclair/typebox"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { DatasetType, MetricsType, WeightsType } from "../src/artifacts/index.ts"
import type { Dataset } from "../src/artifacts/types.ts"
import { edgePairProblem } from "../src/ml/data/edge-pairs.ts"
import { toSignedUnit, toUnitFloat } from "../src/ml/data/pixels.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import { type DiffusionMeta, type DiffusionProcess, readDiffusionMeta, withDiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { type ControlNetSpec, createControlNet } from "../src/ml/nn/controlnet.ts"
import { countParams } from "../src/ml/nn/model.ts"
import { branchCount, decodeUNetConfig } from "../src/ml/nn/unet.ts"
import { effectiveBatch, trainDiffusion, type TrainingSet } from "../src/ml/training/diffusion.ts"
import { ml, mlAsync, seconds, withModel } from "./_ml.ts"
import { trainingHistory } from "./_training-history.ts"

const Params = Type.Object({
  controlSkips: Type.Optional(Type.Array(Type.Integer({ minimum: 0 }), {
    description: "Skip connections (0 = shallowest; the reference U-Net has 0, 1, 2 at 28, 14, 7 px) that get a zero conv from the copy; absent: all.",
  })),
  controlMiddle: Type.Boolean({ default: true, description: "Also add a zero conv from the copy's deepest feature (after the middle block) into the base's." }),
  hintChannels: Type.Array(Type.Integer({ minimum: 1 }), {
    default: [16, 32],
    description: "Widths of the conditioning encoder's 3x3 convs (each + SiLU) before its zero conv into the U-Net's baseChannels.",
  }),
  pDropControl: Type.Number({ minimum: 0, maximum: 1, default: 0, description: "Probability of training on a blank (zero) control image; the paper drops prompts, never the control image." }),
  pUncond: Type.Number({ minimum: 0, maximum: 1, default: 0.5, description: "Class-conditional base only: probability of the null label (the paper's 50% empty prompts)." }),
  steps: Type.Integer({ minimum: 1, default: 3000, description: "Optimizer steps." }),
  batchSize: Type.Integer({ minimum: 1, default: 64 }),
  lr: Type.Number({ exclusiveMinimum: 0, default: 2e-4, description: "Adam learning rate after warm-up." }),
  warmupSteps: Type.Integer({ minimum: 0, default: 200, description: "Linear lr warm-up steps." }),
  lrDecay: Type.Union([Type.Literal("constant"), Type.Literal("cosine")], { default: "cosine", description: "After warm-up: keep `lr`, or a half cosine to 0 at the last step." }),
  clipNorm: Type.Number({ minimum: 0, default: 1, description: "Clip the global gradient norm (0: off)." }),
  emaDecay: Type.Number({ minimum: 0, maximum: 1, default: 0.999, description: "EMA decay of the saved ControlNet weights (warmed up as min(decay, (1+n)/(10+n)))." }),
  seed: Type.Integer({ default: 0, description: "Seeds the conditioning encoder's init, data order, t, noise and the drops." }),
  limit: Type.Optional(Type.Integer({ minimum: 1, description: "Train on the first `limit` images only." })),
})
type P = typeof Params.static

/** Why the images do not fit the base, or their edge maps do not pair up with them (undefined: all fit). */
const inputProblem = (d: Dataset, e: Dataset, meta: DiffusionMeta): string | undefined => {
  const want = meta.itemShape
  if (d.height !== want[0] || d.width !== want[1] || d.channels !== want[2])
    return `the base was trained on ${want.join("x")} images, dataset images are ${d.height}x${d.width}x${d.channels}`
  return edgePairProblem(d, e)
}

/**
 * The base's training objective, its prediction (ε or v) included: the ControlNet's residuals steer the
 * base's output, so they are trained on the base's target. Its t distribution is not recorded in the
 * weights: a velocity base is fine-tuned with t ~ U(0, 1) (train-diffusion's default).
 */
export const processOf = (meta: DiffusionMeta): DiffusionProcess => {
  if (meta.objective === "rectified-flow") return { objective: "rectified-flow", tSampling: { kind: "uniform" } }
  if (meta.schedule === undefined) throw invalidInput("the base's diffusion metadata has no noise schedule")
  return { objective: "ddpm", schedule: meta.schedule, prediction: meta.prediction ?? "eps" }
}

/** Images in [-1, 1] (the base's data range) with their edge maps in [0, 1] as the control. */
const controlSet = (d: Dataset, e: Dataset, limit: number): TrainingSet => {
  const size = d.height * d.width * d.channels
  const eSize = e.height * e.width * e.channels
  return {
    count: Math.min(d.count, limit),
    itemShape: [d.height, d.width, d.channels],
    rows: (idx) => toSignedUnit(gatherRows(d.images, size, idx)),
    labels: (idx) => Int32Array.from(gatherRows(d.labels, 1, idx)),
    control: { itemShape: [e.height, e.width, e.channels], rows: (idx) => toUnitFloat(gatherRows(e.images, eSize, idx)) },
  }
}

export default defineNode({
  kind: "train-controlnet",
  description: "Trains a ControlNet (trainable encoder copy + zero convs) that steers a frozen pixel U-Net with per-image control maps (e.g. Canny edges).",
  params: Params,
  inputs: { base: WeightsType, dataset: DatasetType, edges: DatasetType },
  outputs: { model: WeightsType, history: MetricsType },
  heavy: true,
  run: ({ base, dataset, edges }, p: P, ctx) =>
    Effect.gen(function* () {
      // every check before any work: the base, the pairing, the spec against the base's skips
      const { meta, spec, process } = yield* ml("checking the inputs", () => {
        const meta = readDiffusionMeta(base)
        if (meta.space !== "pixel" || base.architecture !== "unet")
          throw invalidInput(`the base must be a pixel-space U-Net from train-diffusion, got a ${meta.space}-space "${base.architecture}" model`)
        const problem = inputProblem(dataset, edges, meta)
        if (problem !== undefined) throw invalidInput(problem)
        const skips = p.controlSkips ?? Array.from({ length: branchCount(decodeUNetConfig(base.config)) }, (_, j) => j)
        const spec: ControlNetSpec = { controlChannels: edges.channels, hintChannels: p.hintChannels, skips, middle: p.controlMiddle }
        return { meta, spec, process: processOf(meta) }
      })
      const set = controlSet(dataset, edges, p.limit ?? dataset.count)
      const B = effectiveBatch(set.count, p.batchSize)
      const trained = yield* withModel("building the ControlNet", () => createControlNet(base, spec, p.seed), (model) => {
        const nParams = countParams(model, model.controlVariables)
        ctx.log(`ControlNet (${nParams.toLocaleString("en")} trainable params, base frozen), skips [${spec.skips}]${spec.middle ? " + middle" : ""}, ${set.count} images, batch ${B}, ${p.steps} steps, backend ${tf.getBackend()}`)
        return mlAsync("training", () =>
          trainDiffusion(
            model,
            set,
            {
              process,
              steps: p.steps, batchSize: p.batchSize, lr: p.lr, warmupSteps: p.warmupSteps, lrDecay: p.lrDecay, clipNorm: p.clipNorm, emaDecay: p.emaDecay,
              seed: p.seed, control: { pDrop: p.pDropControl },
              ...(meta.numClasses === undefined ? {} : { labels: { nullLabel: meta.numClasses, pUncond: p.pUncond } }),
            },
            {
              now: seconds,
              interrupted: ctx.interrupted,
              onStep: (r) => ctx.progress({ phase: "train", step: r.step, total: r.total, epoch: r.epoch, metrics: { loss: r.smoothLoss } }),
            },
          )).pipe(Effect.map((r) => ({ ...r, nParams })))
      })
      const history = trainingHistory(trained, { count: set.count, batchSize: p.batchSize, batch: B, params: trained.nParams })
      return { model: withDiffusionMeta(trained.weights, meta), history }
    }),
})
