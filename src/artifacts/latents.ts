// Codec for Latents (standardised VAE latents). One row per example:
//   z: FixedSizeList[D]<Float32>, label: Uint8 (column present only when labels are known).
// The per-dimension mean and std [D] travel as base64 float32 in the schema metadata (bit-exact).
import type { ArtifactType } from "../artifact.ts"
import {
  ArtifactDecodeError,
  base64ToFloat32,
  checkKind,
  fixedFloat32ListColumn,
  float32ToBase64,
  hasColumn,
  makeTable,
  readFixedFloat32List,
  readMeta,
  readMetaInt,
  readUint8,
  uint8Column,
} from "./arrow.ts"
import type { Latents } from "./types.ts"

export const LatentsType: ArtifactType<Latents> = {
  name: "latents",
  description: "Standardised latents [N, D] with their mean/std [D] and optional labels [N]",
  encode: (z) => {
    if (!(z.dim > 0)) throw new RangeError(`latents: dim ${z.dim} must be positive`)
    if (z.values.length !== z.count * z.dim || z.mean.length !== z.dim || z.std.length !== z.dim)
      throw new RangeError(`latents: sizes do not match count ${z.count} x dim ${z.dim}`)
    if (z.labels !== null && z.labels.length !== z.count) throw new RangeError(`latents: ${z.labels.length} labels for ${z.count}`)
    const columns = [fixedFloat32ListColumn("z", z.dim, z.values)]
    if (z.labels !== null) columns.push(uint8Column("label", z.labels))
    return makeTable("latents", z.count, columns, [
      ["dim", String(z.dim)],
      ["mean", float32ToBase64(z.mean)],
      ["std", float32ToBase64(z.std)],
    ])
  },
  decode: (t) => {
    checkKind(t, "latents")
    const dim = readMetaInt(t, "dim")
    const values = readFixedFloat32List(t, "z", dim)
    const mean = base64ToFloat32(readMeta(t, "mean"))
    const std = base64ToFloat32(readMeta(t, "std"))
    if (mean.length !== dim || std.length !== dim) throw new ArtifactDecodeError(`latents: mean/std not of length ${dim}`)
    const labels = hasColumn(t, "label") ? readUint8(t, "label") : null
    return { count: t.numRows, dim, values, mean, std, labels }
  },
}
