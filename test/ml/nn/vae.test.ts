import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { tableFromIPC, tableToIPC } from "apache-arrow"
import { WeightsType } from "../../../src/artifacts/index.ts"
import { Rng } from "../../../src/ml/random.ts"
import { countParams, disposeModel, fromWeights, modelToWeights } from "../../../src/ml/nn/model.ts"
import {
  type VaeConfig, type VaeModel, bceWithLogitsPerImage, createVae, decodeVaeConfig, defaultVaeConfig, klPerImage, vaeArchitecture, vaeFromWeights, vaeLoss,
} from "../../../src/ml/nn/vae.ts"
import { Adam, trainStep } from "../../../src/ml/nn/optim.ts"

await tf.setBackend("cpu")

const tiny: VaeConfig = { imageSize: 8, inChannels: 1, channels: [4, 8], latentDim: 3, groups: 2 }
const images = (n: number, seed: number, size = 8) => tf.tensor4d(new Rng(seed).uniforms(n * size * size), [n, size, size, 1])

t.test("registered as \"vae\"; default config is 28 -> 14 -> 7 with D = 16", (t) => {
  t.equal(vaeArchitecture.name, "vae")
  const m = createVae(defaultVaeConfig, 0)
  t.same(m.variables.get("enc_out.weight")?.shape, [7 * 7 * 32, 32], "flatten of 7x7x32 -> [mu, logvar]")
  t.same(m.variables.get("dec_in.weight")?.shape, [16, 7 * 7 * 32])
  t.same(m.variables.get("enc1.down.conv.weight")?.shape, [3, 3, 16, 32])
  t.same(m.variables.get("enc2.down.conv.weight")?.shape, [3, 3, 32, 32])
  t.same(m.variables.get("dec1.up.conv.weight")?.shape, [3, 3, 32, 16])
  t.same(m.variables.get("dec_out.weight")?.shape, [3, 3, 16, 1])
  t.equal(countParams(m), countParams(createVae(defaultVaeConfig, 1)))
  disposeModel(m)
  t.end()
})

t.test("encode / decode shapes; decoded pixels in [0, 1]; no leaked tensors", (t) => {
  const m = createVae(tiny, 3)
  const x = images(5, 1)
  const before = tf.memory().numTensors
  const { mu, logvar } = m.encode(x)
  t.same(mu.shape, [5, 3])
  t.same(logvar.shape, [5, 3])
  const y = m.decode(mu)
  t.same(y.shape, [5, 8, 8, 1])
  const v = y.dataSync()
  t.ok(v.every((p) => p >= 0 && p <= 1))
  const t0 = tf.zeros([5]) as tf.Tensor1D
  t.same(m.apply(x, t0).shape, [5, 8, 8, 1], "apply = reconstruction logits through mu")
  tf.dispose([mu, logvar, y])
  const l = vaeLoss(m, x, new Rng(0), { recon: "bce", beta: 1 })
  tf.dispose([l.loss, l.recon, l.kl])
  t.equal(tf.memory().numTensors, before + 2, "only t0 and the apply result above are alive")
  disposeModel(m)
  t.end()
})

t.test("bce per image = sum of the direct formula; KL of N(0, I) is 0 and of N(1, e) is known", (t) => {
  const l = tf.tensor4d([2, -1, 0, 30], [1, 2, 2, 1])
  const x = tf.tensor4d([1, 0, 0.5, 0.25], [1, 2, 2, 1])
  // Direct -x log p - (1 - x) log(1 - p), p = sigmoid(l), where it is finite in float64.
  const direct = [2, -1, 0].reduce((s, li, i) => {
    const xi = [1, 0, 0.5][i]!
    const p = 1 / (1 + Math.exp(-li))
    return s - xi * Math.log(p) - (1 - xi) * Math.log(1 - p)
  }, 0)
  // For l = 30 the direct log(1 - p) underflows; the stable form gives (1 - x) * l exactly.
  const stable = [2, -1, 0].reduce((s, li, i) => {
    const xi = [1, 0, 0.5][i]!
    return s + Math.max(li, 0) - li * xi + Math.log1p(Math.exp(-Math.abs(li)))
  }, 0) + 0.75 * 30
  t.ok(Math.abs(bceWithLogitsPerImage(l, x).dataSync()[0]! - stable) < 1e-4, `stable ${stable}`)
  t.ok(Math.abs(stable - 0.75 * 30 - direct) < 1e-9, "stable form = direct formula")
  t.same(Array.from(klPerImage(tf.zeros([2, 3]) as tf.Tensor2D, tf.zeros([2, 3]) as tf.Tensor2D).dataSync()), [0, 0])
  // mu = 1, logvar = 1 in each of 3 dims: 0.5 * 3 * (1 + e - 1 - 1) = 1.5 (e - 1)
  const kl = klPerImage(tf.ones([1, 3]) as tf.Tensor2D, tf.ones([1, 3]) as tf.Tensor2D).dataSync()[0]!
  t.ok(Math.abs(kl - 1.5 * (Math.E - 1)) < 1e-5)
  t.end()
})

t.test("loss = recon + beta KL; same seed gives the same loss, another seed another one", (t) => {
  const m = createVae(tiny, 4)
  const x = images(4, 2)
  const read = (seed: number, beta: number, recon: "bce" | "mse" = "bce") => {
    const l = vaeLoss(m, x, new Rng(seed), { recon, beta })
    const r = [l.loss, l.recon, l.kl].map((s) => s.dataSync()[0]!) as [number, number, number]
    tf.dispose([l.loss, l.recon, l.kl])
    return r
  }
  const [loss, recon, kl] = read(7, 0.5)
  t.ok(Math.abs(loss - (recon + 0.5 * kl)) < 1e-3)
  t.same(read(7, 0.5), [loss, recon, kl])
  t.not(read(8, 0.5)[1], recon, "reparameterisation noise comes from the rng")
  const [, mse] = read(7, 1, "mse")
  t.ok(mse > 0 && mse < 64, "mse recon is a per-image sum of squared errors in [0, 1]")
  disposeModel(m)
  t.end()
})

const sameOutputs = (a: VaeModel, b: VaeModel, x: tf.Tensor4D): boolean =>
  tf.tidy(() => {
    const ea = a.encode(x), eb = b.encode(x)
    const pairs = [[ea.mu, eb.mu], [ea.logvar, eb.logvar], [a.decode(ea.mu), b.decode(ea.mu)]] as const
    return pairs.every(([p, q]) => {
      const u = p.dataSync(), v = q.dataSync()
      return u.length === v.length && u.every((e, i) => Object.is(e, v[i]))
    })
  })

t.test("weights codec round trip (Arrow IPC bytes, registry rebuild) gives bit-identical outputs", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 1, max: 4 }), fc.constantFrom([4, 8], [4], [8, 8, 8]), (seed, D, channels) => {
        const config = { ...tiny, latentDim: D, channels }
        const m = createVae(config, seed)
        const bytes = tableToIPC(WeightsType.encode(modelToWeights(m)), "file")
        const w = WeightsType.decode(tableFromIPC(bytes))
        const viaRegistry = fromWeights(vaeArchitecture, w)
        const typed = vaeFromWeights(w)
        const x = images(3, seed + 1)
        const ok = sameOutputs(m, typed, x) && sameOutputs(m, viaRegistry, x)
        ;[m, viaRegistry, typed].forEach(disposeModel)
        x.dispose()
        return ok && JSON.stringify(decodeVaeConfig(w.config)) === JSON.stringify(config)
      }),
      { numRuns: 8 },
    ),
  )
  t.end()
})

t.test("config decoding teaches", (t) => {
  t.throws(() => decodeVaeConfig({ ...tiny, channels: [4, 5] }), /multiple of groups 2/)
  t.throws(() => decodeVaeConfig({ ...tiny, imageSize: 7 }), /not divisible by 2\^1/)
  t.throws(() => decodeVaeConfig({ ...tiny, latentDim: 1.5 }), /latentDim/)
  t.throws(() => vaeFromWeights({ architecture: "unet", config: {}, variables: [] }), /expected "vae"/)
  t.end()
})

t.test("a few Adam steps on 8 images lower the loss", (t) => {
  const m = createVae(tiny, 5)
  const x = images(8, 9)
  const opt = new Adam({ lr: 1e-2 })
  const rng = new Rng(1)
  const losses: number[] = []
  for (let i = 0; i < 15; i++) losses.push(trainStep(m, () => vaeLoss(m, x, rng, { recon: "bce", beta: 1 }).loss, opt).loss)
  t.ok(losses[14]! < losses[0]! - 1, `loss ${losses[0]} -> ${losses[14]}`)
  opt.dispose()
  disposeModel(m)
  t.end()
})
