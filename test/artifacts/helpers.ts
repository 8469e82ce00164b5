// Shared test helpers for the codec tests: the round trip the engine performs (value -> table -> IPC
// file bytes -> table -> value) and bit-level comparison of typed arrays.
import { tableFromIPC, tableToIPC } from "apache-arrow"
import fc from "fast-check"
import type { ArtifactType } from "../../src/artifact.ts"

export const ipcBytes = <A>(type: ArtifactType<A>, value: A): Uint8Array => tableToIPC(type.encode(value), "file")

export const roundTrip = <A>(type: ArtifactType<A>, value: A): A => type.decode(tableFromIPC(ipcBytes(type, value)))

type Typed = Uint8Array | Float32Array | Float64Array | Int32Array
/** Same length and same bytes (so NaN payloads and -0 count). */
export const sameBits = (a: Typed, b: Typed): boolean => {
  if (a.constructor !== b.constructor || a.length !== b.length) return false
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
  return x.every((v, i) => v === y[i])
}

export const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => a.length === b.length && a.every((v, i) => v === b[i])

/** Any float32 bit pattern: NaNs with payloads, +-0, +-Infinity, subnormals. */
export const float32Bits = (length: number): fc.Arbitrary<Float32Array> =>
  fc
    .oneof(
      fc.uint32Array({ minLength: length, maxLength: length }).map((u) => new Float32Array(u.buffer)),
      fc.float32Array({ minLength: length, maxLength: length }),
    )

/** Object.is on every element of two plain number lists. */
export const sameNumbers = (a: readonly (number | string)[], b: readonly (number | string)[]): boolean =>
  a.length === b.length && a.every((v, i) => Object.is(v, b[i]))
