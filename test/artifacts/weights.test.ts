import t from "tap"
import { isDeepStrictEqual } from "node:util"
import fc from "fast-check"
import { WeightsType } from "../../src/artifacts/index.ts"
import type { WeightVariable, Weights } from "../../src/artifacts/types.ts"
import { float32Bits, ipcBytes, roundTrip, sameBits, sameBytes } from "./helpers.ts"

const variableArb: fc.Arbitrary<WeightVariable> = fc
  .array(fc.integer({ min: 0, max: 4 }), { maxLength: 3 })
  .chain((shape) =>
    fc.record({ name: fc.string({ maxLength: 10 }), shape: fc.constant(shape), values: float32Bits(shape.reduce((a, b) => a * b, 1)) }),
  )

const weightsArb: fc.Arbitrary<Weights> = fc.record({
  architecture: fc.constantFrom("unet", "vae", "latent-mlp", "lenet"),
  config: fc.dictionary(fc.string({ maxLength: 6 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 4, noNullPrototype: true }),
  variables: fc.array(variableArb, { maxLength: 5 }),
})

t.test("weights round-trip bit-exactly, variable order and config included", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(weightsArb, (w) => {
        const r = roundTrip(WeightsType, w)
        return (
          r.architecture === w.architecture &&
          isDeepStrictEqual(r.config, w.config) &&
          r.variables.length === w.variables.length &&
          r.variables.every((v, i) => {
            const x = w.variables[i]!
            return v.name === x.name && JSON.stringify(v.shape) === JSON.stringify(x.shape) && sameBits(v.values, x.values)
          })
        )
      }),
    ),
  )
  t.end()
})

t.test("weights encoding is deterministic and ignores config key order", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(weightsArb, (w) => {
        const reordered = { ...w, config: Object.fromEntries(Object.entries(w.config).reverse()) }
        return sameBytes(ipcBytes(WeightsType, w), ipcBytes(WeightsType, reordered))
      }),
    ),
  )
  t.end()
})

t.test("a concrete model keeps names, shapes, values and nested config", (t) => {
  const w: Weights = {
    architecture: "latent-mlp",
    config: { hidden: [256, 256], act: "silu", ema: { decay: 0.999 } },
    variables: [
      { name: "dense/kernel", shape: [2, 3], values: new Float32Array([1, 2, 3, 4, 5, 6]) },
      { name: "dense/bias", shape: [3], values: new Float32Array([0.25, -1, 0]) },
      { name: "scalar", shape: [], values: new Float32Array([42]) },
    ],
  }
  const r = roundTrip(WeightsType, w)
  t.same(r.config, w.config)
  t.same(r.variables.map((v) => [v.name, v.shape, Array.from(v.values)]), [
    ["dense/kernel", [2, 3], [1, 2, 3, 4, 5, 6]],
    ["dense/bias", [3], [0.25, -1, 0]],
    ["scalar", [], [42]],
  ])
  t.end()
})
