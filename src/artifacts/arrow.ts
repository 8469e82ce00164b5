// Shared Arrow plumbing for the artifact codecs beside this file: column builders over typed arrays (no
// per-element JS objects, so 60k MNIST images encode and decode in milliseconds), column readers that
// return typed-array views of the table's buffers, and canonical JSON for metadata.
// Determinism matters: the engine addresses artifacts by the sha256 of `tableToIPC(table, "file")`, so
// equal values must give equal bytes; hence fixed column and metadata order and sorted JSON keys.
import {
  Binary,
  type Data,
  type DataType,
  Field,
  FixedSizeBinary,
  FixedSizeList,
  Float32,
  Float64,
  Int32,
  List,
  makeData,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Uint8,
  Utf8,
} from "apache-arrow"

/** A table that is not what its codec wrote (wrong kind, missing column or key, bad sizes). */
export class ArtifactDecodeError extends Error {
  readonly _tag = "ArtifactDecodeError"
  override readonly name = "ArtifactDecodeError"
}

export interface Column {
  readonly name: string
  readonly data: Data
}

/** Metadata key naming the artifact kind; every codec writes it first and checks it on decode. */
export const KIND_KEY = "pipe.artifact"

/** One record batch with the given columns (all of equal length) and ordered schema metadata. */
export const makeTable = (
  kind: string,
  length: number,
  columns: readonly Column[],
  metadata: readonly (readonly [string, string])[],
): Table => {
  const fields = columns.map((c) => new Field(c.name, c.data.type, false))
  const schema = new Schema(fields, new Map([[KIND_KEY, kind], ...metadata]))
  const struct = makeData({ type: new Struct(fields), length, nullCount: 0, children: columns.map((c) => c.data) })
  return new Table([new RecordBatch(schema, struct)])
}

// ---- builders -------------------------------------------------------------------------------

export const uint8Column = (name: string, values: Uint8Array): Column => ({
  name,
  data: makeData({ type: new Uint8(), length: values.length, nullCount: 0, data: values }),
})

export const float64Column = (name: string, values: Float64Array): Column => ({
  name,
  data: makeData({ type: new Float64(), length: values.length, nullCount: 0, data: values }),
})

export const float32Column = (name: string, values: Float32Array): Column => ({
  name,
  data: makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values }),
})

/** `count` rows of `width` bytes each, e.g. one flattened uint8 image per row. */
export const fixedBinaryColumn = (name: string, width: number, bytes: Uint8Array): Column => ({
  name,
  data: makeData({ type: new FixedSizeBinary(width), length: bytes.length / width, nullCount: 0, data: bytes }),
})

/** `count` rows of `width` float32 each (FixedSizeList<Float32>). */
export const fixedFloat32ListColumn = (name: string, width: number, values: Float32Array): Column => {
  const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values })
  const type = new FixedSizeList(width, new Field("item", child.type, false))
  return { name, data: makeData({ type, length: values.length / width, nullCount: 0, child }) }
}

const offsetsOf = (lengths: readonly number[]): Int32Array => {
  const offsets = new Int32Array(lengths.length + 1)
  lengths.forEach((n, i) => (offsets[i + 1] = offsets[i]! + n))
  return offsets
}

export const utf8Column = (name: string, strings: readonly string[]): Column => {
  const encoded = strings.map((s) => new TextEncoder().encode(s))
  const valueOffsets = offsetsOf(encoded.map((b) => b.length))
  const data = concatBytes(encoded)
  return { name, data: makeData({ type: new Utf8(), length: strings.length, nullCount: 0, valueOffsets, data }) }
}

export const binaryColumn = (name: string, blobs: readonly Uint8Array[]): Column => {
  const valueOffsets = offsetsOf(blobs.map((b) => b.length))
  const data = concatBytes(blobs)
  return { name, data: makeData({ type: new Binary(), length: blobs.length, nullCount: 0, valueOffsets, data }) }
}

/** Variable-length float32 lists, one per row (List<Float32>). */
export const float32ListColumn = (name: string, rows: readonly Float32Array[]): Column => {
  const values = new Float32Array(rows.reduce((n, r) => n + r.length, 0))
  let at = 0
  for (const r of rows) values.set(r, (at += r.length) - r.length)
  const child = makeData({ type: new Float32(), length: values.length, nullCount: 0, data: values })
  const type = new List(new Field("item", child.type, false))
  const valueOffsets = offsetsOf(rows.map((r) => r.length))
  return { name, data: makeData({ type, length: rows.length, nullCount: 0, valueOffsets, child }) }
}

/** Variable-length int32 lists, one per row (List<Int32>), e.g. tensor shapes. */
export const int32ListColumn = (name: string, rows: readonly (readonly number[])[]): Column => {
  const flat = Int32Array.from(rows.flat())
  const child = makeData({ type: new Int32(), length: flat.length, nullCount: 0, data: flat })
  const type = new List(new Field("item", child.type, false))
  const valueOffsets = offsetsOf(rows.map((r) => r.length))
  return { name, data: makeData({ type, length: rows.length, nullCount: 0, valueOffsets, child }) }
}

const concatBytes = (parts: readonly Uint8Array[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.length
  }
  return out
}

// ---- readers --------------------------------------------------------------------------------

/** Throws unless the table was written by the codec of `kind`. */
export const checkKind = (table: Table, kind: string): void => {
  const found = table.schema.metadata.get(KIND_KEY)
  if (found !== kind) throw new ArtifactDecodeError(`expected a "${kind}" artifact table, found ${found ?? "no kind"}`)
}

export const readMeta = (table: Table, key: string): string => {
  const v = table.schema.metadata.get(key)
  if (v === undefined) throw new ArtifactDecodeError(`artifact table lacks metadata key "${key}"`)
  return v
}

export const readMetaInt = (table: Table, key: string): number => {
  const n = Number(readMeta(table, key))
  if (!Number.isSafeInteger(n) || n < 0) throw new ArtifactDecodeError(`metadata "${key}" is not a count: ${n}`)
  return n
}

export const hasColumn = (table: Table, name: string): boolean => table.schema.fields.some((f) => f.name === name)

const chunks = (table: Table, name: string, typeName: string): readonly Data[] => {
  const col = table.getChild(name)
  if (col === null) throw new ArtifactDecodeError(`artifact table lacks column "${name}"`)
  const found = col.type.toString()
  if (found !== typeName) throw new ArtifactDecodeError(`column "${name}": expected ${typeName}, found ${found}`)
  for (const d of col.data) if (d.nullCount > 0) throw new ArtifactDecodeError(`column "${name}" has nulls`)
  return col.data
}

type Typed = Uint8Array | Int32Array | Float32Array | Float64Array
type TypedCtor<A extends Typed> = { new (n: number): A; readonly BYTES_PER_ELEMENT: number }

/**
 * The `stride`-element rows of every chunk of a flat or fixed-size column, as one typed array. A
 * single chunk (what our codecs write) is returned as a zero-copy view into the table's buffer:
 * copying 47 MB of MNIST pixels costs ~200 ms, a view nothing. Artifacts are immutable by contract,
 * so sharing the buffer is safe. Several chunks are concatenated with `set`, which copies bytes (for
 * the same element type), so NaN payloads and -0 survive either way.
 */
const gather = <A extends Typed>(
  ctor: TypedCtor<A>,
  parts: readonly Data[],
  stride: number,
  valuesOf: (d: Data) => { readonly values: unknown; readonly offset: number },
): A => {
  const views = parts.map((d) => {
    const { values, offset } = valuesOf(d)
    if (!(values instanceof (ctor as unknown as typeof Uint8Array | typeof Float32Array)))
      throw new ArtifactDecodeError(`unexpected buffer type ${Object.prototype.toString.call(values)}`)
    return (values as A).subarray(offset * stride, (offset + d.length) * stride) as A
  })
  if (views.length === 1) return views[0]!
  const out = new ctor(views.reduce((n, v) => n + v.length, 0))
  let at = 0
  for (const v of views) {
    out.set(v as never, at)
    at += v.length
  }
  return out
}

const own = (d: Data) => ({ values: d.values as unknown, offset: d.offset })
const child = (d: Data) => {
  const c = d.children[0]
  if (c === undefined) throw new ArtifactDecodeError("list column without values")
  return { values: c.values as unknown, offset: c.offset + d.offset }
}

export const readUint8 = (t: Table, name: string): Uint8Array => gather(Uint8Array, chunks(t, name, "Uint8"), 1, own)
export const readFloat64 = (t: Table, name: string): Float64Array =>
  gather(Float64Array, chunks(t, name, "Float64"), 1, own)
export const readFloat32 = (t: Table, name: string): Float32Array =>
  gather(Float32Array, chunks(t, name, "Float32"), 1, own)
export const readFixedBinary = (t: Table, name: string, width: number): Uint8Array =>
  gather(Uint8Array, chunks(t, name, `FixedSizeBinary[${width}]`), width, own)
export const readFixedFloat32List = (t: Table, name: string, width: number): Float32Array =>
  gather(Float32Array, chunks(t, name, `FixedSizeList[${width}]<Float32>`), width, child)

/** Rows of a variable-length column (Utf8, Binary, List<T>) as [start, end) ranges into its values. */
const ranges = <R>(parts: readonly Data[], row: (values: unknown, start: number, end: number) => R): R[] => {
  const out: R[] = []
  for (const d of parts) {
    const offsets = d.valueOffsets as unknown
    if (!(offsets instanceof Int32Array)) throw new ArtifactDecodeError("variable-length column without int32 offsets")
    const values = d.children.length > 0 ? d.children[0]!.values : d.values
    for (let i = d.offset; i < d.offset + d.length; i++) out.push(row(values, offsets[i]!, offsets[i + 1]!))
  }
  return out
}

export const readUtf8 = (t: Table, name: string): string[] =>
  ranges(chunks(t, name, "Utf8"), (v, s, e) => new TextDecoder().decode((v as Uint8Array).subarray(s, e)))
export const readBinary = (t: Table, name: string): Uint8Array[] =>
  ranges(chunks(t, name, "Binary"), (v, s, e) => (v as Uint8Array).slice(s, e))
export const readFloat32Lists = (t: Table, name: string): Float32Array[] =>
  ranges(chunks(t, name, "List<Float32>"), (v, s, e) => (v as Float32Array).slice(s, e))
export const readInt32Lists = (t: Table, name: string): number[][] =>
  ranges(chunks(t, name, "List<Int32>"), (v, s, e) => Array.from((v as Int32Array).subarray(s, e)))

// ---- canonical JSON -------------------------------------------------------------------------

/**
 * JSON with object keys sorted (equal values -> equal text) and numbers JSON cannot hold (NaN,
 * +-Infinity, -0) written as {"$f64": "NaN" | "Infinity" | "-Infinity" | "-0"}, so they round-trip.
 */
export const canonicalJson = (value: unknown): string => JSON.stringify(canon(value))

const canon = (v: unknown): unknown => {
  if (typeof v === "number") return Number.isFinite(v) && !Object.is(v, -0) ? v : { $f64: Object.is(v, -0) ? "-0" : String(v) }
  if (Array.isArray(v)) return v.map(canon)
  if (v !== null && typeof v === "object") {
    const o = v as Record<string, unknown>
    return Object.fromEntries(Object.keys(o).sort().map((k) => [k, canon(o[k])]))
  }
  return v
}

export const parseCanonicalJson = (text: string): unknown =>
  JSON.parse(text, (_k, v: unknown) => {
    if (v !== null && typeof v === "object" && !Array.isArray(v)) {
      const keys = Object.keys(v)
      const tag = (v as Record<string, unknown>).$f64
      if (keys.length === 1 && typeof tag === "string") return Number(tag)
    }
    return v
  })

/** Float32 bytes as base64 (little-endian, as Arrow IPC): bit-exact, NaN payloads included. */
export const float32ToBase64 = (a: Float32Array): string =>
  Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString("base64")
export const base64ToFloat32 = (s: string): Float32Array => {
  const bytes = Buffer.from(s, "base64")
  if (bytes.length % 4 !== 0) throw new ArtifactDecodeError(`base64 float32 data of ${bytes.length} bytes`)
  const out = new Float32Array(bytes.length / 4)
  new Uint8Array(out.buffer).set(bytes)
  return out
}
