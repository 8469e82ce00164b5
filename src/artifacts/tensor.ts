// Codec for Tensor: one Float32 column "value" holding the row-major data (prod(shape) rows); the shape
// and the string metadata travel as schema metadata (shape as a JSON array, meta as sorted-key JSON).
import type { ArtifactType } from "../artifact.ts"
import {
  ArtifactDecodeError,
  canonicalJson,
  checkKind,
  float32Column,
  makeTable,
  parseCanonicalJson,
  readFloat32,
  readMeta,
} from "./arrow.ts"
import type { Tensor } from "./types.ts"

const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1)

export const TensorType: ArtifactType<Tensor> = {
  name: "tensor",
  description: "A float32 tensor; shape and string metadata in the schema metadata",
  encode: (x) => {
    if (!x.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw new RangeError(`tensor: bad shape [${x.shape}]`)
    if (x.data.length !== sizeOf(x.shape)) throw new RangeError(`tensor: ${x.data.length} values for shape [${x.shape}]`)
    return makeTable("tensor", x.data.length, [float32Column("value", x.data)], [
      ["shape", JSON.stringify(x.shape)],
      ["meta", canonicalJson(x.meta)],
    ])
  },
  decode: (t) => {
    checkKind(t, "tensor")
    const shape = parseCanonicalJson(readMeta(t, "shape"))
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0))
      throw new ArtifactDecodeError(`tensor: bad shape metadata ${readMeta(t, "shape")}`)
    const data = readFloat32(t, "value")
    if (data.length !== sizeOf(shape)) throw new ArtifactDecodeError(`tensor: ${data.length} values for shape [${shape}]`)
    return { shape: shape as number[], data, meta: parseCanonicalJson(readMeta(t, "meta")) as Record<string, string> }
  },
}
