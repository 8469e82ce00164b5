import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../../../src/ml/random.ts"
import { createLatentMlp, referenceMlpConfig } from "../../../src/ml/nn/mlp.ts"
import { countParams, disposeModel, modelToWeights } from "../../../src/ml/nn/model.ts"
import { Ema } from "../../../src/ml/nn/optim.ts"
import { type UNetConfig, createUNet, referenceUNetConfig } from "../../../src/ml/nn/unet.ts"
import { latentMlpFromWeights } from "../../../src/ml/nn/mlp-weights.ts"
import { unetFromWeights } from "../../../src/ml/nn/unet-weights.ts"

await tf.setBackend("cpu")

const tiny: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1,
  attentionResolutions: [4], dropout: 0.1, timeEmbedDim: 16, numClasses: 3, groups: 4, imageSize: 8,
}

t.test("reference U-Net and latent MLP have the peer's parameter counts", (t) => {
  const u = createUNet(referenceUNetConfig, 0)
  const m = createLatentMlp(referenceMlpConfig, 0)
  t.equal(countParams(u), 624_481)
  t.equal(countParams(m), 82_448)
  // Spot-check names/shapes of the reference topology (enc1 changes channels: 1x1 skip).
  t.same(u.variables.get("enc1.skip.weight")?.shape, [1, 1, 32, 64])
  t.same(u.variables.get("dec0.conv1.weight")?.shape, [3, 3, 96, 32])
  t.same(u.variables.get("down1.weight")?.shape, [3, 3, 64, 64])
  t.same(u.variables.get("up2.weight")?.shape, [3, 3, 64, 64])
  t.same(u.variables.get("conv_out.weight")?.shape, [3, 3, 32, 1])
  t.notOk(u.variables.has("enc0.skip.weight"))
  disposeModel(u)
  disposeModel(m)
  t.end()
})

t.test("init follows PyTorch's default bound and is seeded", (t) => {
  const a = createLatentMlp(referenceMlpConfig, 5)
  const b = createLatentMlp(referenceMlpConfig, 5)
  const c = createLatentMlp(referenceMlpConfig, 6)
  const wa = a.variables.get("l2.weight")!.dataSync()
  const bound = 1 / Math.sqrt(256)
  t.ok(wa.every((x) => Math.abs(x) <= bound))
  t.ok(Math.max(...wa) > 0.95 * bound, "uses the whole range")
  const wb = b.variables.get("l2.weight")!.dataSync()
  const wc = c.variables.get("l2.weight")!.dataSync()
  t.ok(wa.every((x, i) => x === wb[i]), "same seed, same weights")
  t.ok(wa.some((x, i) => x !== wc[i]), "other seed, other weights")
  ;[a, b, c].forEach(disposeModel)
  t.end()
})

t.test("U-Net forward shape; weights round trip reproduces outputs; class labels change the output", (t) => {
  const u = createUNet(tiny, 1)
  const x = tf.tensor4d(new Rng(2).normals(2 * 8 * 8), [2, 8, 8, 1])
  const ts = tf.tensor1d([3, 700])
  const labels = tf.tensor1d([0, 2], "int32")
  const y = u.apply(x, ts, { cond: { labels } })
  t.same(y.shape, [2, 8, 8, 1])
  const w = modelToWeights(u)
  t.equal(w.architecture, "unet")
  const u2 = unetFromWeights({ ...w, config: JSON.parse(JSON.stringify(w.config)) as Record<string, unknown> })
  const y2 = u2.apply(x, ts, { cond: { labels } })
  t.ok(tf.max(tf.abs(y.sub(y2))).dataSync()[0]! === 0, "identical outputs")
  const yNull = u.apply(x, ts)
  t.ok(tf.max(tf.abs(y.sub(yNull))).dataSync()[0]! > 0, "null class differs")
  // dropout only in training, and seeded
  const d1 = u.apply(x, ts, { training: true, rng: new Rng(9) })
  const d2 = u.apply(x, ts, { training: true, rng: new Rng(9) })
  t.equal(tf.max(tf.abs(d1.sub(d2))).dataSync()[0], 0)
  t.ok(tf.max(tf.abs(d1.sub(yNull))).dataSync()[0]! > 0)
  tf.dispose([x, ts, labels, y, y2, yNull, d1, d2])
  disposeModel(u)
  disposeModel(u2)
  t.end()
})

t.test("unetFromWeights / latentMlpFromWeights: another architecture and bad shapes are rejected with a clear message", (t) => {
  t.throws(() => latentMlpFromWeights({ architecture: "nope", config: {}, variables: [] }), /architecture "nope" are not a latent MLP/)
  t.throws(() => unetFromWeights({ architecture: "latent-mlp", config: {}, variables: [] }), /architecture "latent-mlp" are not a U-Net/)
  const w = modelToWeights(createLatentMlp(referenceMlpConfig, 0))
  const bad = { ...w, variables: w.variables.map((v) => (v.name === "l1.bias" ? { ...v, shape: [3] } : v)) }
  t.throws(() => latentMlpFromWeights(bad), /l1.bias has shape/)
  t.throws(() => latentMlpFromWeights({ ...w, config: { ...w.config, hidden: "x" } }), /hidden/)
  t.end()
})

t.test("latent MLP: output shape equals input shape for any batch", (t) => {
  const m = createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [16], numClasses: 2 }, 0)
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 9 }), (b) => {
    const y = tf.tidy(() => m.apply(tf.zeros([b, 4]), tf.zeros([b]) as tf.Tensor1D))
    const ok = y.shape[0] === b && y.shape[1] === 4
    y.dispose()
    return ok
  }), { numRuns: 10 }))
  disposeModel(m)
  t.end()
})

t.test("building a model, its EMA and Adam slots leaves exactly one tensor per variable", (t) => {
  const before = tf.memory().numTensors
  const m = createUNet(tiny, 0)
  t.equal(tf.memory().numTensors - before, m.variables.size, "model: one tensor per variable")
  const ema = new Ema(m.variables, 0.9)
  t.equal(tf.memory().numTensors - before, 2 * m.variables.size, "EMA: one shadow per variable")
  ema.dispose()
  disposeModel(m)
  t.equal(tf.memory().numTensors, before, "all released")
  t.end()
})
