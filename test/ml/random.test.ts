import t from "tap"
import fc from "fast-check"
import { Rng } from "../../src/ml/random.ts"

t.test("same seed, same stream; different seeds differ", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 0, max: 2 ** 40 }), (seed) => {
    const a = new Rng(seed).normals(16)
    const b = new Rng(seed).normals(16)
    const c = new Rng(seed + 1).normals(16)
    return a.every((v, i) => v === b[i]) && a.some((v, i) => v !== c[i])
  })))
  t.end()
})

t.test("normals have mean ~0 and variance ~1", (t) => {
  const xs = new Rng(7).normals(200_000)
  let m = 0
  for (const x of xs) m += x
  m /= xs.length
  let v = 0
  for (const x of xs) v += (x - m) ** 2
  v /= xs.length
  t.ok(Math.abs(m) < 0.01, `mean ${m}`)
  t.ok(Math.abs(v - 1) < 0.01, `variance ${v}`)
  t.end()
})

t.test("fork gives an independent stream and leaves the parent untouched", (t) => {
  const parent = new Rng(3)
  const before = new Rng(3).uniform()
  const child = parent.fork("noise").uniform()
  t.equal(parent.uniform(), before)
  t.not(child, before)
  t.end()
})

t.test("permutation is a permutation", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.integer({ min: 1, max: 500 }), fc.nat(), (n, seed) => {
    const p = Array.from(new Rng(seed).permutation(n)).sort((a, b) => a - b)
    return p.every((v, i) => v === i)
  })))
  t.end()
})
