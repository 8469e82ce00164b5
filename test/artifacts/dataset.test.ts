import t from "tap"
import fc from "fast-check"
import { tableFromIPC } from "apache-arrow"
import { ArtifactDecodeError, DatasetType, TensorType } from "../../src/artifacts/index.ts"
import type { Dataset } from "../../src/artifacts/types.ts"
import { ipcBytes, roundTrip, sameBits, sameBytes } from "./helpers.ts"

const datasetArb: fc.Arbitrary<Dataset> = fc
  .record({ count: fc.nat({ max: 12 }), height: fc.integer({ min: 1, max: 5 }), width: fc.integer({ min: 1, max: 5 }), channels: fc.constantFrom(1, 3) })
  .chain(({ count, height, width, channels }) =>
    fc.record({
      count: fc.constant(count),
      height: fc.constant(height),
      width: fc.constant(width),
      channels: fc.constant(channels),
      images: fc.uint8Array({ minLength: count * height * width * channels, maxLength: count * height * width * channels }),
      labels: fc.uint8Array({ minLength: count, maxLength: count }),
    }),
  )

t.test("dataset round-trips bit-exactly through Arrow IPC, empty batches included", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(datasetArb, (d) => {
        const r = roundTrip(DatasetType, d)
        return (
          r.count === d.count && r.height === d.height && r.width === d.width && r.channels === d.channels &&
          sameBits(r.images, d.images) && sameBits(r.labels, d.labels)
        )
      }),
    ),
  )
  t.end()
})

t.test("dataset encoding is deterministic: equal values, equal IPC bytes", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(datasetArb, (d) => {
        const copy = { ...d, images: d.images.slice(), labels: d.labels.slice() }
        const a = ipcBytes(DatasetType, d)
        return sameBytes(a, ipcBytes(DatasetType, copy)) && sameBytes(a, ipcBytes(DatasetType, roundTrip(DatasetType, d)))
      }),
    ),
  )
  t.end()
})

t.test("a concrete dataset decodes to known values; a subarray view encodes like a copy", (t) => {
  const backing = new Uint8Array([9, 9, 1, 2, 3, 4, 5, 6, 7, 8])
  const d: Dataset = { count: 2, height: 2, width: 2, channels: 1, images: backing.subarray(2), labels: new Uint8Array([3, 7]) }
  const r = roundTrip(DatasetType, d)
  t.same(Array.from(r.images), [1, 2, 3, 4, 5, 6, 7, 8])
  t.same(Array.from(r.labels), [3, 7])
  t.ok(sameBytes(ipcBytes(DatasetType, d), ipcBytes(DatasetType, { ...d, images: backing.slice(2) })))
  t.end()
})

t.test("decoding another kind's table fails with ArtifactDecodeError", (t) => {
  const table = tableFromIPC(ipcBytes(TensorType, { shape: [1], data: new Float32Array(1), meta: {} }))
  t.throws(() => DatasetType.decode(table), { name: ArtifactDecodeError.name, message: /expected a "dataset" artifact table, found tensor/ })
  t.end()
})

t.test("encode rejects inconsistent sizes (a bug in the producing node)", (t) => {
  t.throws(() => DatasetType.encode({ count: 2, height: 2, width: 2, channels: 1, images: new Uint8Array(7), labels: new Uint8Array(2) }), { name: "RangeError" })
  t.end()
})
