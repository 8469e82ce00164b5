import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import type { DiffusionMeta } from "../../../src/ml/diffusion-meta.ts"
import { normalTensor } from "../../../src/ml/diffusion.ts"
import { nullLabels } from "../../../src/ml/nn/conditioning.ts"
import { disposeModel } from "../../../src/ml/nn/model.ts"
import { createUNet, type UNetConfig } from "../../../src/ml/nn/unet.ts"
import { Rng } from "../../../src/ml/random.ts"
import type { ModelFn } from "../../../src/ml/samplers/loop.ts"
import { generate, type ModelFactory } from "../../../src/ml/sampling/generate.ts"
import { guidanceEvals, guidanceFn, guidedFactory } from "../../../src/ml/sampling/guidance.ts"
import { runnerFn, unetRunner } from "../../../src/ml/sampling/unet-runner.ts"
import { linearDefaults } from "../../../src/ml/schedules.ts"

await tf.setBackend("cpu")

const K = 3
const tiny = (conditioning: UNetConfig["conditioning"]): UNetConfig => ({
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [],
  dropout: 0, timeEmbedDim: 16, groups: 4, imageSize: 8, numClasses: K, conditioning,
  ...(conditioning === "cross-attention" ? { crossAttentionResolutions: [4], contextTokens: 2, contextDim: 8 } : {}),
})
const routes = ["embedding", "channel", "cross-attention"] as const

const values = (x: tf.Tensor): Float32Array => {
  const v = x.dataSync() as Float32Array
  x.dispose()
  return v
}

t.test("s = 1 is exactly the conditional output, s = 0 exactly the null-label output (one call of batch B)", (t) => {
  for (const route of routes) {
    const unet = createUNet(tiny(route), 1)
    const fn = runnerFn(unetRunner(unet))
    const x = normalTensor(new Rng(2), [3, 8, 8, 1])
    const labels = tf.tensor1d([0, 2, 1], "int32")
    const call = { step: 0, cond: { labels } }
    const direct = values(fn(x, 500, call))
    const uncond = tf.tidy(() => values(fn(x, 500, { step: 0, cond: { labels: nullLabels(3, K) } })))
    t.same(values(guidanceFn(fn, 1, K)(x, 500, call)), direct, `${route}: s = 1`)
    t.same(values(guidanceFn(fn, 0, K)(x, 500, call)), uncond, `${route}: s = 0`)
    t.notSame(direct, uncond, `${route}: the labels matter`)
    tf.dispose([x, labels])
    disposeModel(unet)
  }
  t.end()
})

t.test("other s: eps_u + s (eps_c - eps_u) of the separate passes, computed in one batch of 2B", (t) => {
  const unet = createUNet(tiny("channel"), 3)
  const fn = runnerFn(unetRunner(unet))
  const x = normalTensor(new Rng(4), [2, 8, 8, 1])
  const labels = tf.tensor1d([1, 0], "int32")
  const c = values(fn(x, 300, { step: 0, cond: { labels } }))
  const u = tf.tidy(() => values(fn(x, 300, { step: 0, cond: { labels: nullLabels(2, K) } })))
  t.doesNotThrow(() => fc.assert(fc.property(fc.double({ min: 0, max: 10, noNaN: true }), (s) => {
    const g = values(guidanceFn(fn, s, K)(x, 300, { step: 0, cond: { labels } }))
    // the batched kernels may round differently from batch-B calls: tolerance relative to the terms
    return g.every((v, i) => Math.abs(v - (u[i]! + s * (c[i]! - u[i]!))) <= 1e-4 * (1 + s))
  }), { numRuns: 20 }))
  tf.dispose([x, labels])
  disposeModel(unet)
  t.end()
})

interface Seen { readonly batch: number; readonly labels: number[] }
/** A spy network: records each call's batch size and labels, returns 0.1 x (plus the label, so halves differ). */
const spyFactory = (seen: Seen[]): ModelFactory => () => {
  const fn: ModelFn = (x, _t, call) => {
    seen.push({ batch: x.shape[0]!, labels: Array.from(call.cond.labels?.dataSync() ?? []) })
    const l = call.cond.labels!.toFloat().reshape([x.shape[0]!, ...x.shape.slice(1).map(() => 1)])
    return x.mul(0.1).add(l.mul(0.01))
  }
  return { fn, cond: {}, dispose: () => {} }
}

const ddpmMeta: DiffusionMeta = { objective: "ddpm", space: "pixel", itemShape: [4, 4, 1], schedule: linearDefaults, numClasses: K }
const rfMeta: DiffusionMeta = { objective: "rectified-flow", space: "pixel", itemShape: [4, 4, 1], numClasses: K }
const settings = { eta: 0, spacing: "trailing", variance: "posterior", clipX0: true } as const

t.test("one network call of batch 2B per model evaluation ([labels; null]); s in {0, 1}: batch B; labels per batch", (t) => {
  const labels = Int32Array.of(0, 1, 2, 0, 1)
  for (const [sampler, meta, evalsPerStep] of [["ddim", ddpmMeta, 1], ["rf-midpoint", rfMeta, 2]] as const) {
    for (const scale of [3, 0, 1, undefined]) {
      const seen: Seen[] = []
      const before = tf.memory().numTensors
      const out = generate(meta, { sampler, settings, steps: 4, count: 5, batchSize: 3, seed: 1 }, guidedFactory(spyFactory(seen), { labels, numClasses: K, ...(scale === undefined ? {} : { scale }) }))
      t.equal(tf.memory().numTensors, before, `${sampler} s=${scale}: no tensors left behind`)
      const what = `${sampler}, s = ${scale}`
      t.equal(seen.length, 2 * 4 * evalsPerStep, `${what}: one call per evaluation, 2 batches x 4 steps`)
      const doubled = guidanceEvals(scale) === 2
      const expected = (b: number[]): number[] => (doubled ? [...b, ...b.map(() => K)] : scale === 0 ? b.map(() => K) : b)
      t.same(seen.slice(0, 4 * evalsPerStep).map((s) => s.batch), new Array(4 * evalsPerStep).fill(doubled ? 6 : 3), `${what}: batch ${doubled ? "2B" : "B"}`)
      t.same(seen[0]!.labels, expected([0, 1, 2]), `${what}: first batch's labels`)
      t.same(seen.at(-1)!.labels, expected([0, 1]), `${what}: last batch's labels`)
      t.equal(out.values.length, 5 * 16)
    }
  }
  t.end()
})

t.test("the guided network on a spy: u + s (c - u) per half", (t) => {
  const seen: Seen[] = []
  const { fn } = spyFactory(seen)({ index: 0, first: 0, count: 1 })
  const x = tf.ones([1, 1])
  const labels = tf.tensor1d([2], "int32")
  const g = values(tf.tidy(() => guidanceFn(fn, 5, K)(x, 0, { step: 0, cond: { labels } })))
  // c = 0.1 + 0.02, u = 0.1 + 0.03: u + 5 (c - u) = 0.13 - 0.05
  t.ok(Math.abs(g[0]! - 0.08) < 1e-6, `${g[0]}`)
  t.throws(() => guidanceFn(fn, 2, K)(x, 0, { step: 0, cond: {} }), /needs the batch's labels/)
  tf.dispose([x, labels])
  t.end()
})

t.test("cross-attention U-Net: token and block shapes; different labels give different outputs at initialisation", (t) => {
  const unet = createUNet(tiny("cross-attention"), 5)
  t.same(unet.variables.get("context_tokens")?.shape, [K + 1, 2 * 8], "4 rows (3 classes + null) of 2 tokens x 8")
  const xattn = [...unet.variables.keys()].filter((n) => n.includes("xattn"))
  t.same([...new Set(xattn.map((n) => n.split(".")[0]))], ["enc1", "dec1"], "cross-attention at the 4x4 level only, encoder and decoder")
  t.same(unet.variables.get(xattn.find((n) => n.endsWith(".k.weight"))!)?.shape, [8, 16], "keys project D = 8 tokens to the 16 channels of level 1")
  const fn = runnerFn(unetRunner(unet))
  const x = normalTensor(new Rng(6), [1, 8, 8, 1])
  const outs = [0, 1, 2, K].map((l) => tf.tidy(() => {
    const y = fn(x, 100, { step: 0, cond: { labels: tf.tensor1d([l], "int32") } })
    t.same(y.shape, [1, 8, 8, 1])
    return values(y.clone())
  }))
  for (let i = 0; i < outs.length; i++)
    for (let j = i + 1; j < outs.length; j++) t.notSame(outs[i], outs[j], `labels ${[0, 1, 2, K][i]} vs ${[0, 1, 2, K][j]}`)
  x.dispose()
  disposeModel(unet)
  t.end()
})
