// IDX, the file format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/, "FILE FORMATS"):
// a big-endian header `0x00 0x00 <dtype> <ndims>`, then ndims uint32 dimension sizes, then the data
// row-major. We read the ubyte (0x08) files: images [N, H, W] (idx3) and labels [N] (idx1), raw or
// gzip-compressed (detected by the gzip magic 0x1f 0x8b, not by the file name).
import { gunzipSync, gzipSync } from "node:zlib"
import { Effect } from "effect"
import * as Data from "effect/Data"

/** A malformed IDX file: names the file and what was expected versus found, so the fix is obvious. */
export class IdxError extends Data.TaggedError("IdxError")<{
  readonly file: string
  readonly expected: string
  readonly found: string
}> {
  override get message(): string {
    return `${this.file}: expected ${this.expected}, found ${this.found}`
  }
}

/** dtype byte -> name, for messages (only 0x08 is accepted). */
const DTYPES: Readonly<Record<number, string>> = {
  0x08: "ubyte",
  0x09: "sbyte",
  0x0b: "short",
  0x0c: "int",
  0x0d: "float",
  0x0e: "double",
}
const UBYTE = 0x08

export interface IdxArray {
  readonly dims: readonly number[]
  readonly data: Uint8Array // row-major, prod(dims) bytes
}
export interface IdxImages {
  readonly count: number
  readonly height: number
  readonly width: number
  readonly pixels: Uint8Array // [N, H, W]
}

const hex = (b: number): string => `0x${b.toString(16).padStart(2, "0")}`
const isGzip = (bytes: Uint8Array): boolean => bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b

/** Gunzips when the bytes carry the gzip magic; raw IDX passes through untouched. */
export const maybeGunzip = (bytes: Uint8Array, file: string): Effect.Effect<Uint8Array, IdxError> =>
  isGzip(bytes)
    ? Effect.try({
        try: () => new Uint8Array(gunzipSync(bytes)),
        catch: (e) =>
          new IdxError({ file, expected: "a valid gzip stream", found: `a corrupt one (${String(e)})` }),
      })
    : Effect.succeed(bytes)

/** Parses a ubyte IDX file with exactly `ndims` dimensions (the whole file, no trailing bytes). */
export const parseIdx = (
  raw: Uint8Array,
  file: string,
  ndims: number,
): Effect.Effect<IdxArray, IdxError> =>
  Effect.flatMap(maybeGunzip(raw, file), (bytes) => {
    const fail = (expected: string, found: string) => Effect.fail(new IdxError({ file, expected, found }))
    if (bytes.length < 4) return fail("a 4-byte IDX magic number", `a ${bytes.length}-byte file`)
    if (bytes[0] !== 0 || bytes[1] !== 0)
      return fail("magic starting 0x00 0x00", `${hex(bytes[0]!)} ${hex(bytes[1]!)} (not an IDX file)`)
    const dtype = bytes[2]!
    if (dtype !== UBYTE)
      return fail(`dtype 0x08 (ubyte)`, `${hex(dtype)} (${DTYPES[dtype] ?? "unknown"})`)
    if (bytes[3] !== ndims) return fail(`${ndims} dimension(s)`, `${bytes[3]}`)
    const header = 4 + 4 * ndims
    if (bytes.length < header) return fail(`a ${header}-byte header`, `${bytes.length} bytes`)
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    const dims = Array.from({ length: ndims }, (_, i) => view.getUint32(4 + 4 * i, false))
    const size = dims.reduce((a, b) => a * b, 1)
    if (bytes.length !== header + size)
      return fail(
        `${header + size} bytes (header ${header} + ${dims.join("x")} ubyte)`,
        `${bytes.length}${bytes.length < header + size ? " (truncated)" : " (trailing bytes)"}`,
      )
    return Effect.succeed({ dims, data: bytes.subarray(header) })
  })

/** idx3-ubyte images [N, H, W]. */
export const parseIdxImages = (raw: Uint8Array, file: string): Effect.Effect<IdxImages, IdxError> =>
  Effect.map(parseIdx(raw, file, 3), ({ dims, data }) => ({
    count: dims[0]!,
    height: dims[1]!,
    width: dims[2]!,
    pixels: data,
  }))

/** idx1-ubyte labels [N]. */
export const parseIdxLabels = (raw: Uint8Array, file: string): Effect.Effect<Uint8Array, IdxError> =>
  Effect.map(parseIdx(raw, file, 1), ({ data }) => data)

/** Checks that an image file and a label file describe the same number of examples. */
export const checkCounts = (
  images: IdxImages,
  labels: Uint8Array,
  imageFile: string,
  labelFile: string,
): Effect.Effect<void, IdxError> =>
  images.count === labels.length
    ? Effect.void
    : Effect.fail(
        new IdxError({
          file: labelFile,
          expected: `${images.count} labels (one per image in ${imageFile})`,
          found: `${labels.length}`,
        }),
      )

/** Writes a ubyte IDX file (tests and fixtures); `gzip` compresses deterministically (level 9, no mtime). */
export const writeIdx = (dims: readonly number[], data: Uint8Array, gzip = false): Uint8Array => {
  const size = dims.reduce((a, b) => a * b, 1)
  if (data.length !== size) throw new RangeError(`writeIdx: ${data.length} bytes for dims ${dims.join("x")}`)
  const header = 4 + 4 * dims.length
  const out = new Uint8Array(header + size)
  const view = new DataView(out.buffer)
  out[2] = UBYTE
  out[3] = dims.length
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false))
  out.set(data, header)
  return gzip ? new Uint8Array(gzipSync(out, { level: 9 })) : out
}
