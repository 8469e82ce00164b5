import t from "tap"
import fc from "fast-check"
import * as tf from "@tensorflow/tfjs"
import { tableFromIPC, tableToIPC } from "apache-arrow"
import { WeightsType } from "../../../src/artifacts/index.ts"
import { selectBackend, type BackendPreference } from "../../../src/ml/backend/index.ts"
import { Rng } from "../../../src/ml/random.ts"
import { countParams, disposeModel, fromWeights, modelToWeights } from "../../../src/ml/nn/model.ts"
import {
  type ClassifierConfig, type ClassifierModel, classifierArchitecture, classifierFromWeights, createClassifier, crossEntropy, defaultClassifierConfig, maxPool2x2,
} from "../../../src/ml/nn/classifier.ts"
import { shiftImages } from "../../../src/ml/training/classifier.ts"

await tf.setBackend("cpu")

const tiny: ClassifierConfig = { imageSize: 8, inChannels: 1, conv1: 4, conv2: 6, hidden: 5, numClasses: 3 }

t.test("architecture \"lenet\"; default topology and parameter count", (t) => {
  t.equal(classifierArchitecture.name, "lenet")
  const m = createClassifier(defaultClassifierConfig, 0)
  // conv1 5*5*1*32+32, conv2 5*5*32*64+64, fc1 7*7*64*128+128, fc2 128*10+10
  t.equal(countParams(m), 832 + 51_264 + 401_536 + 1_290)
  const x = tf.zeros([2, 28, 28, 1]) as tf.Tensor4D
  t.same(m.features(x).shape, [2, 128])
  t.same(m.logits(x).shape, [2, 10])
  disposeModel(m)
  t.end()
})

// Direct 2x2/2 max pooling and its gradient (dy routed to the window's maximum) in plain JS.
const poolRef = (x: Float32Array, [b, h, w, c]: number[]) => {
  const y = new Float32Array((b! * h! * w! * c!) / 4)
  const argmax = new Int32Array(y.length)
  for (let n = 0; n < b!; n++) for (let i = 0; i < h! / 2; i++) for (let j = 0; j < w! / 2; j++) for (let k = 0; k < c!; k++) {
    const o = ((n * (h! / 2) + i) * (w! / 2) + j) * c! + k
    let best = -Infinity
    for (const [di, dj] of [[0, 0], [0, 1], [1, 0], [1, 1]] as const) {
      const idx = ((n * h! + 2 * i + di) * w! + 2 * j + dj) * c! + k
      if (x[idx]! > best) { best = x[idx]!; argmax[o] = idx }
    }
    y[o] = best
  }
  return { y, argmax }
}

const backends = async (): Promise<string[]> => {
  const found: string[] = []
  for (const pref of ["native", "wasm", "cpu"] as BackendPreference[]) {
    try {
      found.push((await selectBackend(pref)).backend)
    } catch {
      // not available on this machine: nothing to compare
    }
  }
  await tf.setBackend("cpu")
  return [...new Set(found)]
}

t.test("maxPool2x2: values and gradients equal the direct reference on every available backend", async (t) => {
  const shape = [2, 6, 4, 3]
  const n = 2 * 6 * 4 * 3
  const names = await backends()
  t.ok(names.includes("cpu"))
  for (const name of names) {
    await tf.setBackend(name)
    const wrong = fc.check(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (seed) => {
        const rng = new Rng(seed)
        const xv = rng.normals(n) // continuous values: no ties
        const dyv = rng.normals(n / 4)
        const { y, argmax } = poolRef(xv, shape)
        const x = tf.tensor4d(xv, shape as [number, number, number, number])
        const dy = tf.tensor4d(dyv, [2, 3, 2, 3])
        const got = maxPool2x2(x).dataSync()
        const grad = tf.grad((v: tf.Tensor) => maxPool2x2(v as tf.Tensor4D).mul(dy).sum())(x).dataSync()
        const want = new Float32Array(n)
        argmax.forEach((idx, o) => (want[idx] = dyv[o]!))
        tf.dispose([x, dy])
        return got.every((v, i) => v === y[i]) && grad.every((v, i) => Math.abs(v - want[i]!) < 1e-6)
      }),
      { numRuns: 20 },
    )
    t.notOk(wrong.failed, `${name}: ${wrong.counterexample ?? ""}`)
  }
  await tf.setBackend("cpu")
})

t.test("cross-entropy equals -log softmax of the true class, averaged", (t) => {
  const logits = tf.tensor2d([[1, 2, 3], [0, 0, 0]])
  const ce = crossEntropy(logits, Int32Array.from([2, 0])).dataSync()[0]!
  const lse = Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3))
  t.ok(Math.abs(ce - ((lse - 3) + Math.log(3)) / 2) < 1e-6)
  t.end()
})

const sameOutputs = (a: ClassifierModel, b: ClassifierModel, x: tf.Tensor4D): boolean =>
  tf.tidy(() => {
    const u = a.logits(x).dataSync(), v = b.logits(x).dataSync()
    const f = a.features(x).dataSync(), g = b.features(x).dataSync()
    return u.every((e, i) => Object.is(e, v[i])) && f.every((e, i) => Object.is(e, g[i]))
  })

t.test("weights codec round trip gives bit-identical features and logits", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1000 }), (seed) => {
        const m = createClassifier(tiny, seed)
        const w = WeightsType.decode(tableFromIPC(tableToIPC(WeightsType.encode(modelToWeights(m)), "file")))
        const viaRegistry = fromWeights(classifierArchitecture, w)
        const typed = classifierFromWeights(w)
        const x = tf.tensor4d(new Rng(seed).uniforms(3 * 64), [3, 8, 8, 1])
        const ok = sameOutputs(m, typed, x) && sameOutputs(m, viaRegistry, x)
        ;[m, typed, viaRegistry].forEach(disposeModel)
        x.dispose()
        return ok
      }),
      { numRuns: 10 },
    ),
  )
  t.throws(() => classifierFromWeights({ architecture: "vae", config: {}, variables: [] }), /expected "lenet"/)
  t.end()
})

// out[y, x] = in[y - dy, x - dx], zero outside.
const shiftRef = (img: Float32Array, size: number, dy: number, dx: number): Float32Array =>
  Float32Array.from({ length: size * size }, (_, i) => {
    const y = Math.floor(i / size) - dy, x = (i % size) - dx
    return y >= 0 && y < size && x >= 0 && x < size ? img[y * size + x]! : 0
  })

t.test("shiftImages translates each image by its own (dy, dx) with zero fill", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 7 }), fc.integer({ min: 0, max: 1000 }), fc.integer({ min: 0, max: 8 }),
        (count, size, seed, maxShift) => {
          const rng = new Rng(seed)
          const batch = rng.uniforms(count * size * size)
          const shifts = Int32Array.from({ length: 2 * count }, () => rng.int(2 * maxShift + 1) - maxShift)
          const out = shiftImages(batch, count, size, 1, shifts)
          for (let i = 0; i < count; i++) {
            const want = shiftRef(batch.subarray(i * size * size, (i + 1) * size * size), size, shifts[2 * i]!, shifts[2 * i + 1]!)
            if (!want.every((v, j) => v === out[i * size * size + j])) return false
          }
          return true
        },
      ),
    ),
  )
  t.end()
})
