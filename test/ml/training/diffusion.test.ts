import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { WeightsType } from "../../../src/artifacts/index.ts"
import { selectBackend } from "../../../src/ml/backend/index.ts"
import { ddpmTrainingBatch, rfTrainingBatch } from "../../../src/ml/diffusion.ts"
import { createLatentMlp } from "../../../src/ml/nn/mlp.ts"
import { disposeModel, type Model } from "../../../src/ml/nn/model.ts"
import { createUNet, type UNetConfig } from "../../../src/ml/nn/unet.ts"
import { Rng } from "../../../src/ml/random.ts"
import { linearDefaults, makeSchedule } from "../../../src/ml/schedules.ts"
import { type DiffusionMeta, readDiffusionMeta, withDiffusionMeta } from "../../../src/ml/diffusion-meta.ts"
import { MlError } from "../../../src/ml/errors.ts"
import { emaDecayAt } from "../../../src/ml/nn/optim.ts"
import {
  batchesPerEpoch, dropEntries, effectiveBatch, type TrainOptions, trainDiffusion, type TrainingSet,
} from "../../../src/ml/training/diffusion.ts"

// The fastest backend available (pipe-native when built): tfjs-cpu's Conv2DBackpropFilter takes
// seconds even for this tiny U-Net. Results are compared within one backend only.
await selectBackend()

const tinyUNet: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1,
  attentionResolutions: [], dropout: 0, timeEmbedDim: 16, imageSize: 8,
}

/** n fixed 8x8 "images" in [-1, 1]: a bright square at a per-item position. */
const squares = (n: number): TrainingSet => {
  const data = new Float32Array(n * 64).fill(-1)
  for (let i = 0; i < n; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) data[i * 64 + (y + (i % 4)) * 8 + x + (i % 3)] = 1
  return {
    count: n,
    itemShape: [8, 8, 1],
    rows: (idx) => {
      const out = new Float32Array(idx.length * 64)
      for (let k = 0; k < idx.length; k++) out.set(data.subarray(idx[k]! * 64, (idx[k]! + 1) * 64), k * 64)
      return out
    },
  }
}

const gaussians = (n: number, dim: number): TrainingSet => {
  const data = new Rng(11).normals(n * dim)
  for (let i = 0; i < data.length; i++) data[i] = 0.5 * data[i]! + (i % dim === 0 ? 1 : -1)
  return {
    count: n,
    itemShape: [dim],
    rows: (idx) => {
      const out = new Float32Array(idx.length * dim)
      for (let k = 0; k < idx.length; k++) out.set(data.subarray(idx[k]! * dim, (idx[k]! + 1) * dim), k * dim)
      return out
    },
  }
}

const schedule = makeSchedule(linearDefaults)
const ddpmOpts: TrainOptions = {
  process: { objective: "ddpm", schedule: linearDefaults, prediction: "eps" }, steps: 40, batchSize: 8, lr: 3e-3, warmupSteps: 0, lrDecay: "constant", clipNorm: 1, emaDecay: 0.9, seed: 3,
}

/** ε-MSE on a fixed batch with fixed t and noise: the same numbers before and after training. */
const fixedDdpmLoss = (model: Model, set: TrainingSet): number =>
  tf.tidy(() => {
    const x0 = tf.tensor(set.rows(Array.from({ length: set.count }, (_, i) => i)), [set.count, ...set.itemShape])
    let total = 0
    for (let r = 0; r < 4; r++) {
      const b = ddpmTrainingBatch(schedule, x0, new Rng(100 + r))
      total += model.apply(b.xt, tf.tensor1d(b.modelTime)).sub(b.target).square().mean().dataSync()[0]!
    }
    return total / 4
  })

t.test("a tiny U-Net trained for a few ddpm steps lowers the ε-loss on fixed data (and the model ends on EMA weights)", async (t) => {
  const set = squares(8)
  const model = createUNet(tinyUNet, 1)
  const before = fixedDdpmLoss(model, set)
  const out = await trainDiffusion(model, set, ddpmOpts)
  const after = fixedDdpmLoss(model, set)
  t.ok(before > 0.5, `untrained loss ${before} is about E[ε²] = 1`)
  t.ok(after < 0.75 * before, `loss ${before} -> ${after}`)
  t.equal(out.steps, 40)
  t.same(out.curve.columns, ["step", "epoch", "loss", "ema_loss"])
  t.equal(out.curve.rows.length, 40)
  t.same(out.curve.rows.map((r) => r[0]), Array.from({ length: 40 }, (_, i) => i + 1))
  // The saved weights are the model's current (EMA) values.
  const w = out.weights.variables.find((v) => v.name === "conv_out.weight")!
  t.same(Array.from(w.values), Array.from(model.variables.get("conv_out.weight")!.dataSync()))
  disposeModel(model)
})

t.test("rectified flow on a latent MLP lowers the velocity loss", async (t) => {
  const set = gaussians(64, 4)
  const model = createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [32, 32] }, 2)
  const velLoss = (): number =>
    tf.tidy(() => {
      const x1 = tf.tensor(set.rows(Array.from({ length: 64 }, (_, i) => i)), [64, 4])
      const b = rfTrainingBatch(x1, { kind: "uniform" }, new Rng(5))
      return model.apply(b.xt, tf.tensor1d(b.modelTime)).sub(b.target).square().mean().dataSync()[0]!
    })
  const before = velLoss()
  await trainDiffusion(model, set, { ...ddpmOpts, process: { objective: "rectified-flow", tSampling: { kind: "logit-normal", mean: 0, std: 1 } }, steps: 60, batchSize: 32, lr: 1e-2, emaDecay: 0.5 })
  const after = velLoss()
  t.ok(after < 0.7 * before, `velocity loss ${before} -> ${after}`)
  disposeModel(model)
})

t.test("same seed, same weight bytes; another seed differs; no tensors leak per step", async (t) => {
  const set = squares(6)
  const run = async (seed: number, steps = 5): Promise<{ weights: Float32Array[]; left: number }> => {
    const model = createUNet({ ...tinyUNet, dropout: 0.1 }, 4)
    const before = tf.memory().numTensors
    const out = await trainDiffusion(model, set, { ...ddpmOpts, steps, batchSize: 4, warmupSteps: 2, seed })
    const left = tf.memory().numTensors - before
    disposeModel(model)
    return { weights: out.weights.variables.map((v) => v.values), left }
  }
  t.equal((await run(7, 2)).left, 0, "training leaves no tensor behind")
  t.equal((await run(7, 6)).left, 0)
  const a = (await run(7)).weights
  const b = (await run(7)).weights
  const c = (await run(8)).weights
  t.equal(a.length, b.length)
  t.ok(a.length > 0)
  t.ok(a.every((v, i) => Buffer.from(v.buffer, v.byteOffset, v.byteLength).equals(Buffer.from(b[i]!.buffer, b[i]!.byteOffset, b[i]!.byteLength))), "bit-identical")
  t.notOk(a.every((v, i) => v.every((x, j) => x === c[i]![j])), "seed 8 trains differently")
})

t.test("a non-finite loss stops at the step it appears; interruption stops before a step; no tensor left", async (t) => {
  const v = tf.variable(tf.scalar(1), true)
  const bad: Model = { architecture: "bad", config: {}, variables: new Map([["p", v]]), apply: (x) => x.mul(v).div(0) }
  const before = tf.memory().numTensors
  await t.rejects(trainDiffusion(bad, squares(4), { ...ddpmOpts, steps: 5 }), new MlError("non-finite", "loss is Infinity at step 1 (epoch 1): {\"loss\":null}"))
  t.equal(tf.memory().numTensors, before, "optimizer and EMA released after the failure")
  let calls = 0
  const progress: number[] = []
  const model = createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [8] }, 0)
  const stopped = trainDiffusion(model, gaussians(8, 4), { ...ddpmOpts, steps: 10, batchSize: 4 }, {
    interrupted: () => ++calls > 3,
    onStep: (r) => progress.push(r.epoch),
  })
  await t.rejects(stopped, { reason: "interrupted", message: "interrupted before step 4" })
  t.same(progress, [1, 1, 2], "two batches per epoch of 8 at batch 4")
  v.dispose()
  disposeModel(model)
})

t.test("loss history keeps about 500 rows (window means) and always the last step", async (t) => {
  const model = createLatentMlp({ inDim: 2, timeEmbedDim: 4, hidden: [4] }, 0)
  const out = await trainDiffusion(model, gaussians(4, 2), { ...ddpmOpts, steps: 1003, batchSize: 4, lr: 1e-3 })
  t.equal(out.curve.rows.length, 335) // 334 multiples of 3 up to 1002, plus step 1003
  t.same(out.curve.rows.slice(0, 2).map((r) => r[0]), [3, 6], "a row every 3 steps")
  t.equal(out.curve.rows.at(-1)![0], 1003)
  t.ok(out.curve.rows.every(([, , l, s]) => Number.isFinite(l) && Number.isFinite(s)))
  disposeModel(model)
})

t.test("EMA warm-up and batching arithmetic", (t) => {
  t.equal(emaDecayAt(1, 0.999), 2 / 11)
  t.equal(emaDecayAt(1e6, 0.999), 0.999)
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e6 }), fc.double({ min: 0, max: 1, noNaN: true }), (step, d) => {
        const e = emaDecayAt(step, d)
        return e <= d && e >= 0 && e <= emaDecayAt(step + 1, d)
      }),
    ),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e5 }), fc.integer({ min: 1, max: 1024 }), (n, b) => {
        const B = effectiveBatch(n, b)
        const k = batchesPerEpoch(n, b)
        return B >= 1 && B <= n && k * B <= n && (k + 1) * B > n
      }),
    ),
  )
  t.end()
})


t.test("diffusion metadata survives the Weights codec; foreign weights are refused with a reason", async (t) => {
  const model = createLatentMlp({ inDim: 3, timeEmbedDim: 4, hidden: [4] }, 0)
  const out = await trainDiffusion(model, gaussians(4, 3), { ...ddpmOpts, steps: 1, batchSize: 4 })
  disposeModel(model)
  const meta: DiffusionMeta = {
    objective: "ddpm", space: "latent", itemShape: [3], schedule: { ...linearDefaults, T: 50 },
    latent: { mean: [0.1, Math.fround(0.2), -3], std: [1, 2, Math.fround(0.3)] },
  }
  const back = WeightsType.decode(WeightsType.encode(withDiffusionMeta(out.weights, meta)))
  t.same(readDiffusionMeta(back), meta)
  t.equal(back.config.inDim, 3, "the architecture config is kept beside it")
  t.throws(() => readDiffusionMeta(out.weights), { reason: "invalid-input", message: /no diffusion metadata/ })
  t.throws(() => readDiffusionMeta(withDiffusionMeta(out.weights, { ...meta, latent: { mean: [0], std: [1] } })), /mean\/std of length 3/)
  t.same(readDiffusionMeta(withDiffusionMeta(out.weights, { ...meta, numClasses: 10 })).numClasses, 10)
})

t.test("label dropout: entries become the null label at rate pUncond (seeded), others stay", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.double({ min: 0, max: 1, noNaN: true }), fc.integer({ min: 0, max: 1000 }), (p, seed) => {
        const n = 4000
        const ids = Int32Array.from({ length: n }, (_, i) => i % 10)
        const out = dropEntries(ids, p, 10, new Rng(seed))
        const dropped = out.filter((v) => v === 10).length
        const kept = out.every((v, i) => v === 10 || v === ids[i])
        const again = dropEntries(ids, p, 10, new Rng(seed))
        // binomial(n, p): 5 standard deviations
        return kept && Math.abs(dropped - n * p) <= 5 * Math.sqrt(n * p * (1 - p)) + 1 && out.every((v, i) => v === again[i])
      }),
      { numRuns: 50 },
    ),
  )
  t.same(Array.from(dropEntries(Int32Array.of(1, 2, 3), 0, 9, new Rng(0))), [1, 2, 3], "p = 0 keeps all")
  t.same(Array.from(dropEntries(Int32Array.of(1, 2, 3), 1, 9, new Rng(0))), [9, 9, 9], "p = 1 drops all")
  t.end()
})

t.test("a class-conditional U-Net trains on labels; without labelled data it is refused", async (t) => {
  const set = squares(8)
  const labelled: TrainingSet = { ...set, labels: (idx) => Int32Array.from(idx, (i) => i % 3) }
  const model = createUNet({ ...tinyUNet, numClasses: 3, conditioning: "cross-attention", crossAttentionResolutions: [4], contextDim: 8, contextTokens: 2, groups: 4 }, 1)
  const opts = { ...ddpmOpts, steps: 3, labels: { nullLabel: 3, pUncond: 0.5 } }
  await t.rejects(trainDiffusion(model, set, opts), /needs labelled training data/)
  const out = await trainDiffusion(model, labelled, opts)
  t.ok(out.weights.variables.some((v) => v.name === "context_tokens"), "the label tokens are trained and saved")
  disposeModel(model)
})
