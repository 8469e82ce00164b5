// The U-Net as stages: composition equals apply, residuals and conditioning routes behave as specified,
// frozen variables stay put under training, and weights written before the stages existed still load.
import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import "@tensorflow/tfjs-backend-cpu"
import type { Weights } from "../../../src/artifacts/types.ts"
import { skipChannels } from "../../../src/ml/nn/unet.ts"
import { countParams, disposeModel, fromWeights, loadWeights, modelToWeights, weightsDigest } from "../../../src/ml/nn/model.ts"
import { Adam, trainStep } from "../../../src/ml/nn/optim.ts"
import { trainableOf } from "../../../src/ml/nn/params.ts"
import {
  type UNetConfig, branchCount, createUNet, referenceUNetConfig, unetArchitecture, unetDecode, unetEmbed, unetEncode, unetMiddle,
} from "../../../src/ml/nn/unet.ts"
import { Rng } from "../../../src/ml/random.ts"
import { unetRunner } from "../../../src/ml/sampling/unet-runner.ts"

await tf.setBackend("cpu")

const base: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [], dropout: 0,
  timeEmbedDim: 16, groups: 4, imageSize: 8,
}
const same = (a: tf.Tensor, b: tf.Tensor): boolean => {
  const x = a.dataSync(), y = b.dataSync()
  return x.length === y.length && x.every((v, i) => Object.is(v, y[i]))
}
const input = (B: number, seed: number) => ({
  x: tf.tensor4d(new Rng(seed).normals(B * 64), [B, 8, 8, 1]),
  t: tf.tensor1d(Array.from({ length: B }, (_, i) => (37 * (i + seed)) % 1000)),
})

t.test("stages compose to apply; a shallow pass fed the kept feature reproduces the full output at every branch", (t) => {
  const configs: UNetConfig[] = [base, { ...base, resBlocksPerLevel: 2, channelMults: [1, 2, 2], imageSize: 8, middleBlock: "res-attn-res", attentionResolutions: [4] }]
  for (const c of configs) {
    const u = createUNet(c, 3)
    const { x, t: ts } = input(2, 1)
    const y = u.apply(x, ts)
    const s = unetEmbed(u.params, c, ts, {})
    const { h, skips } = unetEncode(u.params, x, s)
    t.equal(skips.length, branchCount(c))
    t.same(skips.map((k) => k.shape[3]), skipChannels(c), "skip channels")
    t.ok(same(unetDecode(u.params, unetMiddle(u.params, h, s), skips, s).out, y), "embed -> encode -> middle -> decode = apply")
    const r = unetRunner(u)
    for (let b = 0; b < u.branches; b++) {
      const { out, kept } = r.full(x, ts, {}, b)
      t.ok(same(out, y), `full pass keeping branch ${b} = apply`)
      t.ok(same(r.shallow(x, ts, {}, b, kept!), y), `shallow pass from branch ${b} with the fresh feature = apply`)
    }
    disposeModel(u)
  }
  t.end()
})

t.test("zero residuals change nothing, bit-exact; non-zero residuals change the output", (t) => {
  const u = createUNet(base, 2)
  const { x, t: ts } = input(3, 2)
  const s = unetEmbed(u.params, base, ts, {})
  const { h, skips } = unetEncode(u.params, x, s)
  const zeros = { skips: skips.map((k) => tf.zerosLike(k)), middle: tf.zerosLike(h) }
  const y = u.apply(x, ts)
  t.ok(same(u.apply(x, ts, { cond: { residuals: zeros } }), y))
  const ones = { skips: skips.map((k) => tf.onesLike(k)) }
  t.notOk(same(u.apply(x, ts, { cond: { residuals: ones } }), y))
  disposeModel(u)
  t.end()
})

t.test("conditioning routes: parameter counts, shapes, labels matter at initialisation, null class by default", (t) => {
  const plain = createUNet(base, 0)
  const routes = {
    embedding: { ...base, numClasses: 10, conditioning: "embedding" as const },
    channel: { ...base, numClasses: 10, conditioning: "channel" as const, classChannels: 2 },
    "cross-attention": { ...base, numClasses: 10, conditioning: "cross-attention" as const, crossAttentionResolutions: [8, 4], contextTokens: 4, contextDim: 12 },
  }
  const extra = {
    embedding: 11 * 16,
    channel: 11 * 64 * 2 + 3 * 3 * 2 * 8, // class map + conv_in's extra input channels
    // tokens + per xattn block (enc0, enc1, dec1, dec0 at 8 and 4): GN 2C, q C^2+C, k,v D C + C, proj C^2+C
    "cross-attention": 11 * 48 + [8, 16, 16, 8].reduce((a, C) => a + 2 * C + 2 * (C * C + C) + 2 * (12 * C + C), 0),
  }
  for (const [name, c] of Object.entries(routes)) {
    const u = createUNet(c, 0)
    t.equal(countParams(u) - countParams(plain), extra[name as keyof typeof extra], `${name}: extra parameters`)
    const { x, t: ts } = input(2, 5)
    const a = u.apply(x, ts, { cond: { labels: tf.tensor1d([1, 1], "int32") } })
    const b = u.apply(x, ts, { cond: { labels: tf.tensor1d([7, 7], "int32") } })
    t.same(a.shape, [2, 8, 8, 1])
    t.notOk(same(a, b), `${name}: labels 1 and 7 give different outputs at initialisation`)
    t.ok(same(u.apply(x, ts), u.apply(x, ts, { cond: { labels: tf.tensor1d([10, 10], "int32") } })), `${name}: no labels = the null class`)
    disposeModel(u)
  }
  const xa = createUNet(routes["cross-attention"], 0)
  t.same(xa.variables.get("context_tokens")?.shape, [11, 48], "4 tokens of width 12 per class")
  t.same(xa.variables.get("enc1.xattn.k.weight")?.shape, [12, 16], "keys from the 12-wide tokens into 16 channels")
  disposeModel(xa)
  const only4 = createUNet({ ...routes["cross-attention"], crossAttentionResolutions: [4] }, 0)
  t.same([only4.variables.has("enc0.xattn.q.weight"), only4.variables.has("enc1.xattn.q.weight")], [false, true], "blocks only at the chosen sizes")
  disposeModel(only4)
  disposeModel(plain)
  t.throws(() => createUNet({ ...base, conditioning: "channel" }, 0), /needs numClasses/)
  t.end()
})

t.test("frozen variables stay bit-identical under training steps; trainable ones move", (t) => {
  const frozen = createUNet(base, 1, { prefix: "base.", trainable: false })
  const live = createUNet(base, 1)
  const before = modelToWeights(frozen)
  const both = { ...live, variables: new Map([...frozen.variables, ...live.variables]) }
  t.equal(trainableOf(both.variables).size, live.variables.size, "only the live copy is trainable")
  const opt = new Adam({ lr: 1e-2 })
  const { x, t: ts } = input(2, 3)
  for (let i = 0; i < 3; i++) trainStep(both, () => tf.tidy(() => frozen.apply(x, ts).add(live.apply(x, ts)).square().mean() as tf.Scalar), opt)
  t.equal(weightsDigest(modelToWeights(frozen)), weightsDigest(before), "frozen base unchanged")
  t.notOk(modelToWeights(live).variables.every((v, i) => v.values.every((e, j) => e === modelToWeights(createUNet(base, 1)).variables[i]!.values[j])), "live copy trained")
  opt.dispose()
  disposeModel(frozen)
  disposeModel(live)
  t.end()
})

t.test("weights written before the stages (configs without the new fields) load and give the same outputs", (t) => {
  // A config as train-diffusion wrote it before 2026-11-30: no conditioning/middleBlock fields.
  const old = { inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [4], dropout: 0, timeEmbedDim: 16, numClasses: 3, groups: 4, imageSize: 8 }
  const u = createUNet(old, 7)
  const w: Weights = { architecture: "unet", config: JSON.parse(JSON.stringify(old)) as Record<string, unknown>, variables: modelToWeights(u).variables }
  const back = fromWeights(unetArchitecture, w)
  t.equal(back.config.conditioning, undefined, "no field invented")
  const { x, t: ts } = input(2, 4)
  const labels = tf.tensor1d([0, 2], "int32")
  t.ok(same(back.apply(x, ts, { cond: { labels } }), u.apply(x, ts, { cond: { labels } })), "numClasses alone = the embedding route, as before")
  disposeModel(back)
  disposeModel(u)
  t.end()
})

t.test("loadWeights: prefix into a scoped copy, strict and partial loads report both sides", (t) => {
  const src = createUNet(base, 1)
  const w = modelToWeights(src)
  const copy = createUNet(base, 9, { prefix: "control." })
  const rep = loadWeights(copy, w, { prefix: "control." })
  t.equal(rep.assigned.length, w.variables.length)
  t.equal(weightsDigest({ ...modelToWeights(copy), variables: modelToWeights(copy).variables.map((v) => ({ ...v, name: v.name.slice(8) })) }), weightsDigest(w), "same values under the prefix")
  const mlpLike = { ...w, variables: [...w.variables, { name: "extra", shape: [1], values: Float32Array.of(1) }] }
  t.throws(() => loadWeights(src, mlpLike), /weights have variables the model lacks: extra/)
  const partial = loadWeights(src, { ...w, variables: w.variables.slice(0, 3) }, { strict: false })
  t.equal(partial.assigned.length, 3)
  t.equal(partial.missing.length, src.variables.size - 3)
  t.throws(() => loadWeights(src, { ...w, variables: w.variables.slice(0, 3) }), /weights lack variable/)
  disposeModel(src)
  disposeModel(copy)
  t.end()
})

t.test("the reference U-Net keeps 624,481 parameters and its variable order", (t) => {
  const u = createUNet(referenceUNetConfig, 0)
  t.equal(countParams(u), 624_481)
  t.equal([...u.variables.keys()][0], "time.0.weight")
  t.equal([...u.variables.keys()].at(-1), "conv_out.bias")
  t.equal(u.branches, 3)
  disposeModel(u)
  t.end()
})

t.test("encode upTo / decode from: any branch of random configs", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2 }), fc.constantFrom([1], [1, 2], [1, 1, 2]), fc.integer({ min: 0, max: 5 }), (n, mults, seed) => {
        const c = { ...base, resBlocksPerLevel: n, channelMults: mults }
        const u = createUNet(c, seed)
        const { x, t: ts } = input(1, seed)
        const r = unetRunner(u)
        const y = r.full(x, ts, {}).out
        const ok = Array.from({ length: u.branches }, (_, b) => same(r.shallow(x, ts, {}, b, r.full(x, ts, {}, b).kept!), y)).every(Boolean)
        disposeModel(u)
        return ok
      }),
      { numRuns: 8 },
    ),
  )
  t.end()
})
