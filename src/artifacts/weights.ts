// Codec for Weights: one row per model variable, in the model's order:
//   name: Utf8, shape: List<Int32>, values: List<Float32> (row-major, bit-exact).
// The architecture name and its JSON config (sorted keys) travel as schema metadata, so a model can be
// rebuilt from the artifact alone.
import type { ArtifactType } from "../artifact.ts"
import {
  ArtifactDecodeError,
  canonicalJson,
  checkKind,
  float32ListColumn,
  int32ListColumn,
  makeTable,
  parseCanonicalJson,
  readFloat32Lists,
  readInt32Lists,
  readMeta,
  readUtf8,
  utf8Column,
} from "./arrow.ts"
import type { Weights } from "./types.ts"

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

export const WeightsType: ArtifactType<Weights> = {
  name: "weights",
  description: "Model weights (one row per variable: name, shape, float32 values) plus architecture config",
  encode: (w) => {
    for (const v of w.variables)
      if (v.values.length !== sizeOf(v.shape)) throw new RangeError(`weights: ${v.name} has ${v.values.length} values for [${v.shape}]`)
    const vs = w.variables
    return makeTable(
      "weights",
      vs.length,
      [
        utf8Column("name", vs.map((v) => v.name)),
        int32ListColumn("shape", vs.map((v) => v.shape)),
        float32ListColumn("values", vs.map((v) => v.values)),
      ],
      [
        ["architecture", w.architecture],
        ["config", canonicalJson(w.config)],
      ],
    )
  },
  decode: (t) => {
    checkKind(t, "weights")
    const names = readUtf8(t, "name")
    const shapes = readInt32Lists(t, "shape")
    const values = readFloat32Lists(t, "values")
    const config = parseCanonicalJson(readMeta(t, "config"))
    if (config === null || typeof config !== "object" || Array.isArray(config))
      throw new ArtifactDecodeError("weights: config metadata is not a JSON object")
    const variables = names.map((name, i) => {
      const shape = shapes[i]!
      if (values[i]!.length !== sizeOf(shape)) throw new ArtifactDecodeError(`weights: ${name} size does not match [${shape}]`)
      return { name, shape, values: values[i]! }
    })
    return { architecture: readMeta(t, "architecture"), config: config as Record<string, unknown>, variables }
  },
}
