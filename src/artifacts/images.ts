// Codec for ImageBatch (generated or decoded images, float32 in [0, 1]). One row per image:
//   pixels: FixedSizeList[H*W*C]<Float32> (NHWC), label: Uint8 (column present only when labels are known).
// H, W, C and the meta record (sorted-key JSON) travel as schema metadata.
import type { ArtifactType } from "../artifact.ts"
import {
  ArtifactDecodeError,
  canonicalJson,
  checkKind,
  fixedFloat32ListColumn,
  hasColumn,
  makeTable,
  parseCanonicalJson,
  readFixedFloat32List,
  readMeta,
  readMetaInt,
  readUint8,
  uint8Column,
} from "./arrow.ts"
import type { ImageBatch } from "./types.ts"

export const ImageBatchType: ArtifactType<ImageBatch> = {
  name: "images",
  description: "A batch of float32 images [N, H, W, C] in [0, 1], optional labels [N], metadata",
  encode: (b) => {
    const size = b.height * b.width * b.channels
    if (!(size > 0)) throw new RangeError(`images: image size ${b.height}x${b.width}x${b.channels} must be positive`)
    if (b.pixels.length !== b.count * size) throw new RangeError(`images: ${b.pixels.length} values for ${b.count} x ${size}`)
    if (b.labels !== null && b.labels.length !== b.count) throw new RangeError(`images: ${b.labels.length} labels for ${b.count}`)
    const columns = [fixedFloat32ListColumn("pixels", size, b.pixels)]
    if (b.labels !== null) columns.push(uint8Column("label", b.labels))
    return makeTable("images", b.count, columns, [
      ["height", String(b.height)],
      ["width", String(b.width)],
      ["channels", String(b.channels)],
      ["meta", canonicalJson(b.meta)],
    ])
  },
  decode: (t) => {
    checkKind(t, "images")
    const height = readMetaInt(t, "height")
    const width = readMetaInt(t, "width")
    const channels = readMetaInt(t, "channels")
    const pixels = readFixedFloat32List(t, "pixels", height * width * channels)
    const labels = hasColumn(t, "label") ? readUint8(t, "label") : null
    const meta = parseCanonicalJson(readMeta(t, "meta"))
    if (meta === null || typeof meta !== "object") throw new ArtifactDecodeError("images: meta is not an object")
    return { count: t.numRows, height, width, channels, pixels, labels, meta: meta as Record<string, string | number> }
  },
}
