// Codec for Dataset (labelled uint8 images, e.g. MNIST). One row per example:
//   image: FixedSizeBinary[H*W*C] (the NHWC pixels of one example), label: Uint8.
// H, W, C travel as schema metadata so an empty dataset still knows its image shape.
import type { ArtifactType } from "../artifact.ts"
import {
  ArtifactDecodeError,
  checkKind,
  fixedBinaryColumn,
  makeTable,
  readFixedBinary,
  readMetaInt,
  readUint8,
  uint8Column,
} from "./arrow.ts"
import type { Dataset } from "./types.ts"

export const DatasetType: ArtifactType<Dataset> = {
  name: "dataset",
  description: "Labelled uint8 images [N, H, W, C] with labels [N] (e.g. MNIST)",
  encode: (d) => {
    const size = d.height * d.width * d.channels
    if (!(size > 0)) throw new RangeError(`dataset: image size ${d.height}x${d.width}x${d.channels} must be positive`)
    if (d.images.length !== d.count * size || d.labels.length !== d.count)
      throw new RangeError(`dataset: ${d.images.length} pixels / ${d.labels.length} labels for ${d.count} images of ${size}`)
    return makeTable(
      "dataset",
      d.count,
      [fixedBinaryColumn("image", size, d.images), uint8Column("label", d.labels)],
      [
        ["height", String(d.height)],
        ["width", String(d.width)],
        ["channels", String(d.channels)],
      ],
    )
  },
  decode: (t) => {
    checkKind(t, "dataset")
    const height = readMetaInt(t, "height")
    const width = readMetaInt(t, "width")
    const channels = readMetaInt(t, "channels")
    const images = readFixedBinary(t, "image", height * width * channels)
    const labels = readUint8(t, "label")
    if (labels.length !== t.numRows) throw new ArtifactDecodeError(`dataset: ${labels.length} labels, ${t.numRows} rows`)
    return { count: t.numRows, height, width, channels, images, labels }
  },
}
