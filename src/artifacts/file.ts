// Codec for FileArtifact (a PNG grid, a CSV...): a single row (name: Utf8, mediaType: Utf8, bytes: Binary).
import type { ArtifactType } from "../artifact.ts"
import { ArtifactDecodeError, binaryColumn, checkKind, makeTable, readBinary, readUtf8, utf8Column } from "./arrow.ts"
import type { FileArtifact } from "./types.ts"

export const FileType: ArtifactType<FileArtifact> = {
  name: "file",
  description: "An opaque file (name, media type, bytes), e.g. a PNG sample grid",
  encode: (f) =>
    makeTable(
      "file",
      1,
      [utf8Column("name", [f.name]), utf8Column("mediaType", [f.mediaType]), binaryColumn("bytes", [f.bytes])],
      [],
    ),
  decode: (t) => {
    checkKind(t, "file")
    if (t.numRows !== 1) throw new ArtifactDecodeError(`file: expected 1 row, found ${t.numRows}`)
    return { name: readUtf8(t, "name")[0]!, mediaType: readUtf8(t, "mediaType")[0]!, bytes: readBinary(t, "bytes")[0]! }
  },
}
