import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../../../src/ml/random.ts"
import { disposeModel, modelToWeights, weightsDigest } from "../../../src/ml/nn/model.ts"
import { createVae, type VaeConfig } from "../../../src/ml/nn/vae.ts"
import { cosineLr, evaluateVae, klWeightAt, trainVae, type VaeTrainOptions } from "../../../src/ml/training/vae.ts"

await tf.setBackend("cpu")

const tiny: VaeConfig = { imageSize: 8, inChannels: 1, channels: [4, 8], latentDim: 3, groups: 2 }
const pixels = new Rng(7).uniforms(24 * 64)
const base: VaeTrainOptions = { epochs: 2, batchSize: 10, lr: 1e-2, beta: 1, recon: "bce", seed: 1, logEvery: 1 }

/** Weights digest and loss curve of a tiny VAE trained with `o`. */
const train = async (o: VaeTrainOptions) => {
  const m = createVae(tiny, 1)
  const curve = await trainVae(m, pixels, 24, o)
  const digest = weightsDigest(modelToWeights(m))
  disposeModel(m)
  return { digest, curve }
}

t.test("cosineLr: the exact values of a 5-step schedule", (t) => {
  const f = cosineLr(1e-3, 5)
  // (1 + cos(pi k / 4)) / 2 for k = 0..4: exact at k = 0, 2, 4 (lr, lr/2, 0); cos(pi/4) = -cos(3pi/4) = sqrt(1/2) to 1 ulp.
  t.equal(f(1), 1e-3)
  t.equal(f(3), 5e-4)
  t.equal(f(5), 0)
  t.ok(Math.abs(f(2) - (1e-3 * (1 + Math.SQRT1_2)) / 2) <= 1e-18, `step 2: ${f(2)}`)
  t.ok(Math.abs(f(4) - (1e-3 * (1 - Math.SQRT1_2)) / 2) <= 1e-18, `step 4: ${f(4)}`)
  t.equal(f(0), 1e-3, "clamped before step 1")
  t.equal(f(6), 0, "clamped after the last step")
  t.end()
})

t.test("cosineLr: lr at step 1, lr/2 half way, 0 at the last step, never increasing", (t) => {
  t.doesNotThrow(() =>
    fc.assert(fc.property(fc.double({ min: 1e-5, max: 1, noNaN: true }), fc.integer({ min: 2, max: 5000 }), (lr, steps) => {
      const f = cosineLr(lr, steps)
      const at = Array.from({ length: steps }, (_, i) => f(i + 1))
      const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * lr
      return close(at[0]!, lr) && close(at[steps - 1]!, 0) && at.every((v, i) => i === 0 || v <= at[i - 1]!) &&
        (steps % 2 === 0 || close(f((steps + 1) / 2), lr / 2))
    })))
  t.equal(cosineLr(0.1, 1)(1), 0.1, "a one-step run keeps lr")
  t.end()
})

t.test("klWeightAt: linear ramp to beta over the warm-up, then beta; no warm-up is beta throughout", (t) => {
  t.equal(klWeightAt(0.5, 100, 1), 0.005)
  t.equal(klWeightAt(0.5, 100, 50), 0.25)
  t.equal(klWeightAt(0.5, 100, 100), 0.5)
  t.equal(klWeightAt(0.5, 100, 5000), 0.5)
  t.doesNotThrow(() =>
    fc.assert(fc.property(fc.double({ min: 0, max: 4, noNaN: true }), fc.integer({ min: 0, max: 300 }), fc.integer({ min: 1, max: 600 }), (beta, w, s) =>
      klWeightAt(beta, w, s) <= beta && klWeightAt(beta, w, s) <= klWeightAt(beta, w, s + 1) && klWeightAt(beta, 0, s) === beta)))
  t.end()
})

t.test("trainVae: the defaults are constant lr, no KL warm-up, no EMA; each option changes the weights", async (t) => {
  const plain = await train(base)
  const explicit = await train({ ...base, lrDecay: "constant", klWarmupSteps: 0, emaDecay: 0 })
  t.equal(explicit.digest, plain.digest, "explicit defaults train the same weights")
  // The weights trainVae trained before these options existed (main at b27c41e, tfjs-cpu): with them
  // off, today's VAE is reproduced bit for bit (test/ml/unchanged.test.ts pins the absent-options case too).
  t.equal(plain.digest, "796187a656aa6367ecf6fea0ecdcf9eca85f0295428a893cbece4743e6e57f2a", "bit-identical to the VAE trainer before the options")
  const cosine = await train({ ...base, lrDecay: "cosine" })
  const warm = await train({ ...base, klWarmupSteps: 4 })
  const ema = await train({ ...base, emaDecay: 0.9 })
  t.equal(new Set([plain.digest, cosine.digest, warm.digest, ema.digest]).size, 4, "cosine lr, KL warm-up and EMA each give other weights")
  // The curve's loss is recon + beta_s KL with the step's KL weight (logEvery 1: one row per step).
  const col = (name: string) => warm.curve.columns.indexOf(name)
  for (const row of warm.curve.rows) {
    const [step, loss, recon, kl] = [row[col("step")], row[col("loss")], row[col("recon")], row[col("kl")]].map(Number) as [number, number, number, number]
    t.ok(Math.abs(loss - (recon + klWeightAt(1, 4, step) * kl)) < 1e-3 * Math.abs(loss), `step ${step}: loss = recon + beta_s KL`)
  }
  t.end()
})

t.test("trainVae with emaDecay saves the EMA: a negligible decay keeps the trained weights (to float error), a real one moves them", async (t) => {
  const m = createVae(tiny, 1)
  await trainVae(m, pixels, 24, base)
  const plain = modelToWeights(m)
  disposeModel(m)
  const maxDiff = async (emaDecay: number) => {
    const e = createVae(tiny, 1)
    await trainVae(e, pixels, 24, { ...base, emaDecay })
    const w = modelToWeights(e)
    disposeModel(e)
    return Math.max(...w.variables.map((v, i) => Math.max(...Array.from(v.values, (x, j) => Math.abs(x - plain.variables[i]!.values[j]!)))))
  }
  t.ok((await maxDiff(1e-9)) < 1e-6, "decay 1e-9: the EMA is the last weights")
  t.ok((await maxDiff(0.9)) > 1e-4, "decay 0.9: the EMA lags the trained weights")
  t.end()
})

t.test("evaluateVae counts active latent dimensions: none when mu is constant, one when one mu varies", (t) => {
  const m = createVae(tiny, 3)
  const x = new Rng(9).uniforms(20 * 64)
  const w = m.variables.get("enc_out.weight")!
  t.equal(evaluateVae(m, x, 20, "bce", 8).activeDims <= 3, true)
  // enc_out maps features to [mu (3), logvar (3)]: zero it and mu = bias for every image.
  w.assign(tf.zerosLike(w))
  t.equal(evaluateVae(m, x, 20, "bce", 8).activeDims, 0)
  // Only mu_1 reads the features, with large weights: it varies across the 20 images.
  const [rows] = w.shape as [number, number]
  const col1 = tf.tidy(() => tf.oneHot(tf.fill([rows], 1, "int32"), 6).mul(tf.randomNormal([rows, 1], 0, 5, "float32", 1)))
  w.assign(col1)
  col1.dispose()
  t.equal(evaluateVae(m, x, 20, "bce", 8).activeDims, 1)
  disposeModel(m)
  t.end()
})
