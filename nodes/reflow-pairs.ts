// reflow-pairs: the data of reflow (Liu et al. 2022, "Flow Straight and Fast", arXiv:2209.03003,
// sec. 2.3). Runs a trained rectified-flow model from fresh noise x0 and keeps every coupling
// (x0, x1 = the sample it reached) as a tensor [N, 2, ...item]. Connected to train-diffusion's `pairs`
// input (objective rectified-flow), it trains a second flow on these fixed couplings, whose paths
// cross less, so few Euler steps suffice. Works in pixel and latent space (latent mean/std travel on).
import { Type } from "@sinclair/typebox"
import { Effect } from "effect"
import { defineNode, NodeError } from "../src/node.ts"
import { MetricsType, TensorType, WeightsType } from "../src/artifacts/index.ts"
import { reflowPairsTensor } from "../src/ml/reflow.ts"
import { reflowPairsFromWeights, samplingMetrics, samplingRecord, withoutWallClock } from "../src/ml/sampling.ts"

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

const seconds = (): number => performance.now() / 1000

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
      const out = yield* Effect.try({
        try: () =>
          reflowPairsFromWeights(inputs.model, sp, {
            now: seconds,
            interrupted: ctx.interrupted,
            onStep: (step, total) => ctx.progress({ phase: "reflow", step, total }),
          }),
        catch: (e) => new NodeError(`reflow sampling failed: ${e instanceof Error ? e.message : String(e)}`, { cause: e }),
      })
      if (!out.ok) return yield* Effect.fail(new NodeError(out.reason === "interrupted" ? "interrupted" : out.message))
      const record = samplingRecord(sp, { objective: "rectified-flow", space: out.pairs.space, itemShape: out.pairs.itemShape }, out.seconds, out.evals)
      return { pairs: reflowPairsTensor(out.pairs, withoutWallClock(record)), timing: samplingMetrics(record) }
    }),
})
