// The model layer computes what it computed before it was rebuilt from stages (2026-11-30): digests of
// weights, outputs and samples taken with the closure-built U-Net, the two former training loops and
// the former sampling module, on tfjs-cpu (exact and deterministic), must come out bit-identical.
// Change a digest only for a change meant to alter the computation, and say so in the commit.
import t from "tap"
import { createHash } from "node:crypto"
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-cpu"
import type { Weights } from "../../src/artifacts/types.ts"
import { createClassifier } from "../../src/ml/nn/classifier.ts"
import { createLatentMlp } from "../../src/ml/nn/mlp.ts"
import { disposeModel, modelToWeights } from "../../src/ml/nn/model.ts"
import { createUNet, referenceUNetConfig, type UNetConfig } from "../../src/ml/nn/unet.ts"
import { createVae } from "../../src/ml/nn/vae.ts"
import { Rng } from "../../src/ml/random.ts"
import { generate, networkFn } from "../../src/ml/sampling/generate.ts"
import { runnerFn, unetRunner } from "../../src/ml/sampling/unet-runner.ts"
import { type SamplerName } from "../../src/ml/samplers/registry.ts"
import { linearDefaults } from "../../src/ml/schedules.ts"
import { trainClassifier } from "../../src/ml/training/classifier.ts"
import { trainDiffusion, type TrainingSet } from "../../src/ml/training/diffusion.ts"
import { trainVae } from "../../src/ml/training/vae.ts"

await tf.setBackend("cpu")

const bytes = (a: Float32Array): Buffer => Buffer.from(a.buffer, a.byteOffset, a.byteLength)
const digest = (a: Float32Array): string => createHash("sha256").update(bytes(a)).digest("hex").slice(0, 16)
const weightsDigest = (w: Weights): string => {
  const h = createHash("sha256")
  for (const v of w.variables) h.update(v.name).update(bytes(v.values))
  return h.digest("hex").slice(0, 16)
}

const tiny: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [4], dropout: 0,
  timeEmbedDim: 16, numClasses: 3, groups: 4, imageSize: 8,
}
const plain: UNetConfig = { inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [], dropout: 0.1, timeEmbedDim: 16, groups: 4, imageSize: 8 }

const squares = (n: number): TrainingSet => {
  const data = new Float32Array(n * 64).fill(-1)
  for (let i = 0; i < n; i++) for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) data[i * 64 + (y + (i % 4)) * 8 + x + (i % 3)] = 1
  return { count: n, itemShape: [8, 8, 1], rows: (idx) => Float32Array.from(Array.from(idx).flatMap((i) => Array.from(data.subarray(i * 64, i * 64 + 64)))) }
}

t.test("U-Net stages: init and forward of a class-conditional U-Net with attention, and of the reference U-Net", (t) => {
  const u = createUNet(tiny, 1)
  const y = tf.tidy(() => u.apply(tf.tensor4d(new Rng(2).normals(2 * 64), [2, 8, 8, 1]), tf.tensor1d([3, 700]), { cond: { labels: tf.tensor1d([0, 3], "int32") } }))
  t.equal(weightsDigest(modelToWeights(u)), "282522c02737133a")
  t.equal(digest(y.dataSync() as Float32Array), "b18554e654b77d3f")
  y.dispose()
  disposeModel(u)
  const r = createUNet(referenceUNetConfig, 0)
  const z = tf.tidy(() => r.apply(tf.tensor4d(new Rng(3).normals(2 * 784), [2, 28, 28, 1]), tf.tensor1d([10, 900])))
  t.equal(weightsDigest(modelToWeights(r)), "56f3303d3bce0915")
  t.equal(digest(z.dataSync() as Float32Array), "9c16e7928441a788")
  z.dispose()
  disposeModel(r)
  t.end()
})

t.test("the one training loop trains what the former loops trained", async (t) => {
  const u = createUNet(plain, 4)
  const d = await trainDiffusion(u, squares(12), {
    process: { objective: "ddpm", schedule: { ...linearDefaults, T: 100 }, prediction: "eps" }, steps: 5, batchSize: 4, lr: 3e-3, warmupSteps: 2, lrDecay: "cosine", clipNorm: 1, emaDecay: 0.9, seed: 3,
  })
  t.equal(weightsDigest(d.weights), "c4cdbb8419471e60", "pixel DDPM (drop-last batches, warm-up, cosine, clipping, EMA, dropout)")
  t.equal(d.finalLoss, 0.7730810642242432)
  disposeModel(u)

  const m = createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [16, 16] }, 2)
  const data = new Rng(11).normals(40 * 4)
  const set: TrainingSet = {
    count: 40, itemShape: [4],
    rows: (idx) => Float32Array.from(Array.from(idx).flatMap((i) => Array.from(data.subarray(i * 4, i * 4 + 4)))),
    noise: (idx) => Float32Array.from({ length: idx.length * 4 }, (_, i) => Math.sin(i + idx[0]!)),
  }
  const r = await trainDiffusion(m, set, {
    process: { objective: "rectified-flow", tSampling: { kind: "logit-normal", mean: 0, std: 1 } }, steps: 25, batchSize: 8, lr: 1e-2, warmupSteps: 0, lrDecay: "constant", clipNorm: 0, emaDecay: 0.99, seed: 5,
  })
  t.equal(weightsDigest(r.weights), "85717ff4e6a7d635", "latent reflow (paired noise, logit-normal t)")
  disposeModel(m)

  const vae = createVae({ imageSize: 8, inChannels: 1, channels: [4, 8], latentDim: 3, groups: 4 }, 1)
  await trainVae(vae, new Rng(7).uniforms(24 * 64), 24, { epochs: 2, batchSize: 10, lr: 1e-3, beta: 1, recon: "bce", seed: 1, logEvery: 2 })
  t.equal(weightsDigest(modelToWeights(vae)), "91802b4a83cd9947", "VAE (keep-last batches, reparameterisation)")
  disposeModel(vae)

  const judge = createClassifier({ imageSize: 8, inChannels: 1, conv1: 4, conv2: 4, hidden: 8, numClasses: 10 }, 1)
  await trainClassifier(judge, new Rng(8).uniforms(24 * 64), Uint8Array.from({ length: 24 }, (_, i) => i % 10), 24, {
    epochs: 2, batchSize: 10, lr: 1e-3, seed: 1, augment: "shift", maxShift: 1, logEvery: 2,
  })
  t.equal(weightsDigest(modelToWeights(judge)), "d8cdd62b894ad80a", "judge (shift augmentation)")
  disposeModel(judge)
})

t.test("every sampler draws the samples it drew before the registry and the model-function factory", (t) => {
  const u = createUNet(plain, 9)
  // ddim changed on purpose (2026-12-01): a clipped x̂0 now comes with its re-derived ε (src/ml/samplers/ddim.ts).
  const expected: Record<SamplerName, string> = { ddpm: "9f353edf7f52fff6", ddim: "7fecab6a24c760fb", "rf-euler": "dd9a1503ea294d8e", "rf-midpoint": "59da25e582dc8948" }
  for (const [sampler, steps] of [["ddpm", 10], ["ddim", 5], ["rf-euler", 3], ["rf-midpoint", 3]] as const) {
    const objective = sampler.startsWith("rf") ? "rectified-flow" : "ddpm"
    const meta = { objective, space: "pixel", itemShape: [8, 8, 1], ...(objective === "ddpm" ? { schedule: { ...linearDefaults, T: 100 } } : {}) } as const
    const out = generate(meta, {
      sampler, steps, count: 5, batchSize: 3, seed: 2, settings: { eta: sampler === "ddim" ? 0.5 : 0, spacing: "trailing", variance: "posterior", clipX0: true },
    }, () => ({ fn: networkFn(u), cond: {}, dispose: () => {} }))
    t.equal(digest(out.values), expected[sampler], sampler)
    const staged = generate(meta, {
      sampler, steps, count: 5, batchSize: 3, seed: 2, settings: { eta: sampler === "ddim" ? 0.5 : 0, spacing: "trailing", variance: "posterior", clipX0: true },
    }, () => ({ fn: runnerFn(unetRunner(u)), cond: {}, dispose: () => {} }))
    t.equal(digest(staged.values), expected[sampler], `${sampler} through the U-Net's stage runner`)
  }
  disposeModel(u)
  t.end()
})
