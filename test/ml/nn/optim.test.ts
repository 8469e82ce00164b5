import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { Rng } from "../../../src/ml/random.ts"
import { createLatentMlp } from "../../../src/ml/nn/mlp.ts"
import { disposeModel, type Model } from "../../../src/ml/nn/model.ts"
import { Adam, Ema, clipByGlobalNorm, linearWarmup, trainStep } from "../../../src/ml/nn/optim.ts"

await tf.setBackend("cpu")

const scalarModel = (p0: number): Model => {
  const v = tf.variable(tf.scalar(p0), true)
  return { architecture: "scalar", config: {}, variables: new Map([["p", v]]), apply: () => v }
}

t.test("Adam follows torch.optim.Adam step by step (loss p^2, lr 0.1)", (t) => {
  const m = scalarModel(1)
  const opt = new Adam({ lr: 0.1 })
  // Reference in float64 with torch's update rule.
  let p = 1, mm = 0, vv = 0
  for (let step = 1; step <= 5; step++) {
    const g = 2 * p
    mm = 0.9 * mm + 0.1 * g
    vv = 0.999 * vv + 0.001 * g * g
    p -= (0.1 * (mm / (1 - 0.9 ** step))) / (Math.sqrt(vv / (1 - 0.999 ** step)) + 1e-8)
    const { loss } = trainStep(m, (mod) => mod.apply(tf.scalar(0), tf.tensor1d([0])).square() as tf.Scalar, opt)
    t.ok(loss >= 0)
    t.ok(Math.abs(m.variables.get("p")!.dataSync()[0]! - p) < 1e-6, `step ${step}: ${p}`)
  }
  t.ok(Math.abs(p - 0.5) < 0.1, "about lr per step while the sign is constant") // 1 - 5 * 0.1
  t.end()
})

t.test("linear warm-up", (t) => {
  const f = linearWarmup(1e-3, 10)
  t.equal(f(1), 1e-4)
  t.equal(f(5), 5e-4)
  t.equal(f(10), 1e-3)
  t.equal(f(1000), 1e-3)
  t.end()
})

t.test("clipByGlobalNorm: norm <= max afterwards, direction kept, small grads untouched", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1, max: 1000 }).map((k) => k / 100), (seed, maxNorm) => {
    const rng = new Rng(seed)
    const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d(rng.normals(5, 3))], ["b", tf.tensor2d(rng.normals(6), [2, 3])]])
    const { grads: c, norm } = clipByGlobalNorm(grads, maxNorm)
    const after = Math.sqrt([...c.values()].reduce((s, g) => s + tf.tidy(() => g.square().sum().dataSync()[0]!), 0))
    const ok = after <= maxNorm * (1 + 1e-5) && (norm > maxNorm || Math.abs(after - norm) < 1e-4 * norm)
    tf.dispose([...grads.values(), ...c.values()])
    return ok
  }), { numRuns: 30 }))
  t.end()
})

t.test("trainStep leaks no tensors and lowers the loss; EMA tracks and installs the averages", (t) => {
  const model = createLatentMlp({ inDim: 4, timeEmbedDim: 8, hidden: [32] }, 0)
  const rng = new Rng(1)
  const x = tf.tensor2d(rng.normals(64 * 4), [64, 4])
  const eps = tf.tensor2d(rng.normals(64 * 4), [64, 4])
  const ts = tf.tensor1d(rng.uniforms(64, 0, 1000))
  const opt = new Adam({ lr: 3e-3 })
  const ema = new Ema(model.variables, 0.9)
  const lossFn = (m: Model) => tf.losses.meanSquaredError(eps, m.apply(x, ts)) as tf.Scalar
  const first = trainStep(model, lossFn, opt, { clipNorm: 1 })
  ema.update(model.variables)
  const n0 = tf.memory().numTensors
  let last = first.loss
  for (let i = 0; i < 30; i++) {
    last = trainStep(model, lossFn, opt, { clipNorm: 1 }).loss
    ema.update(model.variables)
  }
  t.equal(tf.memory().numTensors, n0, "no tensor leak across steps")
  t.ok(last < first.loss, `loss ${first.loss} -> ${last}`)
  t.ok(first.gradNorm !== undefined && first.gradNorm > 0)
  const w = model.variables.get("l1.weight")!
  const before = w.dataSync().slice()
  const shadow = ema.variables().get("l1.weight")!.dataSync().slice()
  t.ok(shadow.some((v, i) => v !== before[i]), "the average lags the weights")
  ema.copyTo(model)
  t.ok(w.dataSync().every((v, i) => v === shadow[i]), "copyTo installs the averages")
  ema.dispose()
  opt.dispose()
  disposeModel(model)
  t.end()
})
