// reflow-pairs: the data of reflow (Liu et al. 2022, "Flow Straight and Fast", arXiv:2209.03003,
// sec. 2.3). Runs a trained rectified-flow model from fresh noise x0 and keeps every coupling
// (x0, x1 = the sample it reached) as a tensor [N, 2, ...item]. Connected to the `pairs` input of
// train-diffusion (pixel) or train-latent-diffusion (latent), objective rectified-flow, it trains a
// second flow on these fixed couplings, whose paths cross less, so few Euler steps suffice. Works in pixel and latent space (latent mean/std travel on).
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode } from "../src/node.ts"
import { MetricsType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import { readDiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { invalidInput } from "../src/ml/errors.ts"
import { Rng } from "../src/ml/random.ts"
import { interleavePairs, reflowPairsTensor } from "../src/ml/reflow.ts"
import { startNoise } from "../src/ml/sampling/generate.ts"
import { ml } from "./_ml.ts"
import { sampleLatentMlp } from "./_latent-sampling.ts"
import { sampleUNet } from "./_pixel-sampling.ts"
import { samplingMetrics, samplingRecord, withoutWallClock } from "./_sampling.ts"

const Params = Type.Object({
  sampler: Type.Union([Type.Literal("rf-euler"), Type.Literal("rf-midpoint")], {
    default: "rf-midpoint",
    description: "ODE solver for the couplings (the paper solves accurately, with RK45; midpoint is second order).",
  }),
  steps: Type.Integer({ minimum: 1, maximum: 1000, default: 25, description: "Solver steps per coupling." }),
  count: Type.Integer({ minimum: 1, default: 10000, description: "Number of (noise, sample) pairs." }),
  batchSize: Type.Integer({ minimum: 1, default: 256 }),
  seed: Type.Integer({ default: 0, description: "Seed of the noise x0." }),
})

export default defineNode({
  kind: "reflow-pairs",
  description: "Generates (noise, sample) couplings from a rectified-flow model: the training data of a reflowed model.",
  params: Params,
  inputs: { model: WeightsType },
  outputs: { pairs: TensorType, timing: MetricsType },
  heavy: true,
  run: (inputs, p, ctx) =>
    Effect.gen(function* () {
      const sp = { ...p, eta: 0, spacing: "trailing" as const, variance: "posterior" as const, clipX0: false }
      const meta = yield* ml("reading the model", () => {
        const m = readDiffusionMeta(inputs.model)
        if (m.objective !== "rectified-flow") throw invalidInput(`reflow needs a rectified-flow model; this one was trained with objective ${m.objective}`)
        return m
      })
      // the one sampling node of both spaces: it imports both architectures (the closure of each is its own)
      const out = yield* (meta.space === "pixel" ? sampleUNet(inputs.model, meta, sp, ctx, "reflow") : sampleLatentMlp(inputs.model, meta, sp, ctx, "reflow"))
      // x0 of item i is exactly the starting noise generate drew for it (same seed, same fork).
      const size = meta.itemShape.reduce((a, b) => a * b, 1)
      const noise = startNoise(new Rng(p.seed), 0, p.count, size)
      const pairs = { count: p.count, itemShape: meta.itemShape, space: meta.space, data: interleavePairs(noise, out.values, p.count, size), ...(meta.latent === undefined ? {} : { latent: meta.latent }) }
      const record = samplingRecord(sp, meta, out)
      return { pairs: reflowPairsTensor(pairs, withoutWallClock(record)), timing: samplingMetrics(record) }
    }),
})
