import t, { type Test } from "tap"
import * as tf from "@tensorflow/tfjs"
import type { Weights } from "../../../src/artifacts/types.ts"
import { withDiffusionMeta } from "../../../src/ml/diffusion-meta.ts"
import { isMlError } from "../../../src/ml/errors.ts"
import {
  checkControlNetBase, controlNetFromWeights, controlNetRunner, controlResiduals, createControlNet, type ControlNetSpec,
} from "../../../src/ml/nn/controlnet.ts"
import { createLatentMlp } from "../../../src/ml/nn/mlp.ts"
import { disposeModel, modelToWeights } from "../../../src/ml/nn/model.ts"
import { createUNet, referenceUNetConfig, type UNetConfig } from "../../../src/ml/nn/unet.ts"
import { Rng } from "../../../src/ml/random.ts"
import { linearDefaults } from "../../../src/ml/schedules.ts"
import { trainDiffusion, type TrainingSet } from "../../../src/ml/training/diffusion.ts"

await tf.setBackend("cpu")

const tiny: UNetConfig = {
  inChannels: 1, outChannels: 1, baseChannels: 8, channelMults: [1, 2], resBlocksPerLevel: 1, attentionResolutions: [], dropout: 0,
  timeEmbedDim: 16, groups: 4, imageSize: 8,
}
const withMiddle: UNetConfig = { ...tiny, numClasses: 3, middleBlock: "res-attn-res" }
const spec: ControlNetSpec = { controlChannels: 1, hintChannels: [4], skips: [0, 1], middle: true }

/** A base's weights: a random U-Net (seeded) with DDPM metadata, as train-diffusion saves it. */
const baseWeights = (config: UNetConfig, seed: number): Weights => {
  const u = createUNet(config, seed)
  const w = withDiffusionMeta(modelToWeights(u), { objective: "ddpm", space: "pixel", itemShape: [8, 8, 1], schedule: { ...linearDefaults, T: 50 } })
  disposeModel(u)
  return w
}
const edges = (n: number, seed: number): tf.Tensor4D =>
  tf.tensor4d(Float32Array.from(new Rng(seed).uniforms(n * 64), (u) => (u < 0.2 ? 1 : 0)), [n, 8, 8, 1])
const noisy = (n: number, seed: number): tf.Tensor4D => tf.tensor4d(new Rng(seed).normals(n * 64), [n, 8, 8, 1])
const same = (a: tf.Tensor, b: tf.Tensor): boolean => {
  const x = a.dataSync()
  const y = b.dataSync()
  return x.length === y.length && x.every((v, i) => Object.is(v + 0, y[i]! + 0))
}
const maxDiff = (a: tf.Tensor, b: tf.Tensor): number => tf.tidy(() => a.sub(b).abs().max().dataSync()[0]!)

t.test("at initialisation the composite's output is the base's, bit for bit (zero convolutions)", (t) => {
  for (const config of [tiny, withMiddle]) {
    const w = baseWeights(config, 1)
    const base = createUNet(config, 1)
    const cn = createControlNet(w, spec, 7)
    const x = noisy(3, 2)
    const tIn = tf.tensor1d([0, 17, 49])
    const labels = config.numClasses === undefined ? {} : { labels: tf.tensor1d([0, 2, 3], "int32") }
    const want = base.apply(x, tIn, { cond: labels })
    const got = cn.apply(x, tIn, { cond: { ...labels, control: edges(3, 3) } })
    t.ok(same(got, want), `${config.middleBlock ?? "no"} middle block: identical outputs`)
    // ... and through the sampling runner, at any scale
    const r = controlNetRunner(cn, 0.5).full(x, tIn, { ...labels, control: edges(3, 4) })
    t.ok(same(r.out, want), "runner: identical outputs")
    disposeModel(base)
    disposeModel(cn)
  }
  t.end()
})

t.test("the copy starts as the base's encoder and middle; E is seeded, the zero convs are 0; only the ControlNet is trainable", (t) => {
  const w = baseWeights(withMiddle, 1)
  const cn = createControlNet(w, spec, 7)
  const byName = new Map(w.variables.map((v) => [v.name, v.values]))
  const copies = [...cn.controlVariables].filter(([n]) => !/^control\.(hint|zero)\./.test(n))
  t.ok(copies.length > 10, `${copies.length} copied variables`)
  for (const name of ["control.time.0.weight", "control.class_emb", "control.enc1.conv2.weight", "control.mid.attn.qkv.weight"])
    t.ok(cn.controlVariables.has(name), name)
  t.notOk(cn.controlVariables.has("control.dec0.conv1.weight"), "no decoder in the copy")
  t.ok(copies.every(([n, v]) => same(v, tf.tensor(byName.get(n.slice("control.".length))!))), "copy = base values")
  for (const n of ["control.hint.1.weight", "control.hint.1.bias", "control.zero.0.weight", "control.zero.1.bias", "control.zero.mid.weight"])
    t.ok(cn.controlVariables.get(n)!.dataSync().every((v) => v === 0), `${n} is zero`)
  t.ok(cn.controlVariables.get("control.hint.0.weight")!.dataSync().some((v) => v !== 0), "E's first conv is not")
  t.ok([...cn.variables].every(([n, v]) => v.trainable === n.startsWith("control.")), "base frozen, ControlNet trainable")
  t.equal(cn.variables.size, w.variables.length + cn.controlVariables.size)
  disposeModel(cn)
  t.end()
})

t.test("control residual shapes per level: reference U-Net (skips 28/14/7) and the shallow pass", (t) => {
  const u = createUNet(referenceUNetConfig, 0)
  const w = modelToWeights(u)
  disposeModel(u)
  const cn = createControlNet(w, { controlChannels: 1, hintChannels: [16, 32], skips: [0, 1, 2], middle: true }, 0)
  const x = tf.randomNormal([2, 28, 28, 1]) as tf.Tensor4D
  const c = { control: tf.zeros([2, 28, 28, 1]) as tf.Tensor4D }
  const r = controlResiduals(cn.control, cn.config, x, tf.tensor1d([1, 2]), c, 1)
  t.same(r.skips.map((s) => s.shape), [[2, 28, 28, 32], [2, 14, 14, 64], [2, 7, 7, 64]])
  t.same(r.middle?.shape, [2, 7, 7, 64])
  const shallow = controlResiduals(cn.control, cn.config, x, tf.tensor1d([1, 2]), c, 1, { upTo: 2 })
  t.same(shallow.skips.map((s) => s.shape), [[2, 28, 28, 32], [2, 14, 14, 64]])
  t.equal(shallow.middle, undefined)
  t.same(cn.control.hint.map((h) => h.weight.shape), [[3, 3, 1, 16], [3, 3, 16, 32], [3, 3, 32, 32]])
  disposeModel(cn)
  t.end()
})

const trainingSet = (n: number): TrainingSet => {
  const rng = new Rng(5)
  const data = Float32Array.from(rng.uniforms(n * 64), (u) => (u < 0.3 ? 1 : -1))
  const control = Float32Array.from(data, (v) => (v > 0 ? 1 : 0))
  const rows = (a: Float32Array) => (idx: ArrayLike<number>) => Float32Array.from(Array.from(idx).flatMap((i) => Array.from(a.subarray(i * 64, i * 64 + 64))))
  return { count: n, itemShape: [8, 8, 1], rows: rows(data), control: { itemShape: [8, 8, 1], rows: rows(control) } }
}
const trainOptions = { process: { objective: "ddpm", schedule: { ...linearDefaults, T: 50 }, prediction: "eps" }, steps: 3, batchSize: 4, lr: 1e-2, warmupSteps: 0, lrDecay: "constant", clipNorm: 1, emaDecay: 0.9, seed: 3, control: { pDrop: 0.25 } } as const

t.test("training moves only the ControlNet: the base stays bit-identical; the Weights hold the ControlNet and rebuild it", async (t) => {
  const w = baseWeights(tiny, 1)
  const cn = createControlNet(w, spec, 7)
  const result = await trainDiffusion(cn, trainingSet(8), trainOptions)
  const byName = new Map(w.variables.map((v) => [v.name, v.values]))
  t.ok([...cn.base.variables].every(([n, v]) => same(v, tf.tensor(byName.get(n)!))), "base variables bit-identical")
  t.ok(cn.controlVariables.get("control.zero.1.weight")!.dataSync().some((v) => v !== 0), "zero convs trained")
  t.same(result.weights.variables.map((v) => v.name), [...cn.controlVariables.keys()], "the Weights hold exactly the ControlNet's variables")
  t.equal(result.weights.architecture, "controlnet")
  const x = noisy(2, 8)
  const tIn = tf.tensor1d([5, 40])
  const control = edges(2, 9)
  const base = createUNet(tiny, 1)
  const out = cn.apply(x, tIn, { cond: { control } })
  t.ok(maxDiff(out, base.apply(x, tIn)) > 0, "now the output depends on the control")
  const rebuilt = controlNetFromWeights(result.weights, w)
  t.ok(same(rebuilt.apply(x, tIn, { cond: { control } }), out), "rebuilt from Weights + base: same output")
  // DeepCache's contract: a shallow pass from a branch with the kept feature of a full pass on the same input is the full pass
  const runner = controlNetRunner(rebuilt, 0.7)
  const full = runner.full(x, tIn, { control }, 0)
  t.ok(maxDiff(runner.shallow(x, tIn, { control }, 0, full.kept!), full.out) < 1e-6, "shallow(branch 0, kept) = full")
  t.ok(maxDiff(full.out, out) > 0, "controlScale 0.7 differs from 1")
  ;[cn, base, rebuilt].forEach(disposeModel)
  t.end()
})

t.test("a ControlNet on a subset of skips trains; the copy's stages past the deepest controlled skip do not run", async (t) => {
  const w = baseWeights(tiny, 1)
  const cn = createControlNet(w, { ...spec, skips: [0], middle: false }, 7)
  const r = controlResiduals(cn.control, cn.config, noisy(2, 1), tf.tensor1d([1, 2]), { control: edges(2, 1) }, 1)
  t.same(r.skips.map((s) => s.shape), [[2, 8, 8, 8], [2, 4, 4, 16]], "a residual per skip")
  t.ok(r.skips[1]!.dataSync().every((v) => v === 0), "zeros for the uncontrolled skip")
  const before = cn.controlVariables.get("control.enc1.conv1.weight")!.dataSync().slice()
  await trainDiffusion(cn, trainingSet(8), trainOptions)
  // no gradient reaches stage 1; only the EMA's float rounding (d·v + (1-d)·v) touches it
  t.ok(maxDiff(cn.controlVariables.get("control.enc1.conv1.weight")!, tf.tensor(before, [3, 3, 8, 16])) < 1e-6, "stage 1 of the copy unchanged")
  t.ok(cn.controlVariables.get("control.zero.0.weight")!.dataSync().some((v) => v !== 0))
  t.notOk(cn.controlVariables.has("control.zero.1.weight"))
  disposeModel(cn)
  t.end()
})

const mlError = (t: Test, f: () => unknown, re: RegExp, what: string): void => {
  try {
    f()
    t.fail(`${what}: no error`)
  } catch (e) {
    t.ok(isMlError(e), `${what}: MlError`)
    t.match((e as Error).message, re, what)
  }
}

t.test("clear errors before any work: control size, missing control, base architecture and digest, bad skips", (t) => {
  const w = baseWeights(tiny, 1)
  const cn = createControlNet(w, spec, 7)
  const x = noisy(2, 1)
  const tIn = tf.tensor1d([1, 2])
  mlError(t, () => cn.apply(x, tIn, { cond: { control: tf.zeros([2, 7, 7, 1]) as tf.Tensor4D } }), /control image batch is \[2,7,7,1\] but this ControlNet needs \[2,8,8,1\]/, "wrong size")
  mlError(t, () => cn.apply(x, tIn, { cond: { control: tf.zeros([2, 8, 8, 3]) as tf.Tensor4D } }), /needs \[2,8,8,1\]/, "wrong channels")
  mlError(t, () => cn.apply(x, tIn), /needs a control image/, "no control")
  const cnWeights = modelToWeights(cn, cn.controlVariables)
  mlError(t, () => controlNetFromWeights(cnWeights, baseWeights(tiny, 2)), /trained on the base with weights digest [0-9a-f]{12}, but the base given has [0-9a-f]{12}/, "another base")
  const mlp = modelToWeights(createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [8] }, 0))
  mlError(t, () => checkControlNetBase(cnWeights, mlp), /base must be a pixel-space U-Net .* architecture "latent-mlp"/, "latent base")
  mlError(t, () => createControlNet(mlp, spec, 0), /architecture "latent-mlp"/, "latent base (training)")
  mlError(t, () => createControlNet(w, { ...spec, skips: [2] }, 0), /control skip 2 does not exist: this U-Net has skips 0..1/, "skip out of range")
  mlError(t, () => createControlNet(w, { ...spec, skips: [], middle: false }, 0), /at least one/, "nothing controlled")
  mlError(t, () => controlNetFromWeights(w, w), /expected ControlNet weights/, "a U-Net as the ControlNet")
  disposeModel(cn)
  t.end()
})
