import t from "tap"
import fc from "fast-check"
import { FileType, ImageBatchType, datasetToImageBatch, imageBatchToUint8 } from "../../src/artifacts/index.ts"
import type { ImageBatch } from "../../src/artifacts/types.ts"
import { float32Bits, ipcBytes, roundTrip, sameBits, sameBytes } from "./helpers.ts"

const batchArb: fc.Arbitrary<ImageBatch> = fc
  .record({ count: fc.nat({ max: 6 }), height: fc.integer({ min: 1, max: 4 }), width: fc.integer({ min: 1, max: 4 }), channels: fc.constantFrom(1, 3), labelled: fc.boolean() })
  .chain(({ count, height, width, channels, labelled }) =>
    fc.record({
      count: fc.constant(count),
      height: fc.constant(height),
      width: fc.constant(width),
      channels: fc.constant(channels),
      pixels: float32Bits(count * height * width * channels),
      labels: labelled ? fc.uint8Array({ minLength: count, maxLength: count }) : fc.constant(null),
      meta: fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.string({ maxLength: 6 }), fc.double()), { maxKeys: 4 }),
    }),
  )

t.test("image batches round-trip bit-exactly, labels null or present, meta numbers exact", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(batchArb, (b) => {
        const r = roundTrip(ImageBatchType, b)
        const labelsOk = b.labels === null ? r.labels === null : r.labels !== null && sameBits(r.labels, b.labels)
        const keys = Object.keys(b.meta).sort()
        return r.count === b.count && r.height === b.height && r.width === b.width && r.channels === b.channels &&
          sameBits(r.pixels, b.pixels) && labelsOk &&
          JSON.stringify(Object.keys(r.meta).sort()) === JSON.stringify(keys) && keys.every((k) => Object.is(r.meta[k], b.meta[k]))
      }),
    ),
  )
  t.end()
})

t.test("image batch encoding is deterministic", (t) => {
  t.doesNotThrow(() =>
    fc.assert(fc.property(batchArb, (b) => sameBytes(ipcBytes(ImageBatchType, b), ipcBytes(ImageBatchType, roundTrip(ImageBatchType, b))))),
  )
  t.end()
})

t.test("file artifacts round-trip bytes, name and media type", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.uint8Array({ maxLength: 300 }), (name, mediaType, bytes) => {
        const r = roundTrip(FileType, { name, mediaType, bytes })
        return r.name === name && r.mediaType === mediaType && sameBytes(r.bytes, bytes) &&
          sameBytes(ipcBytes(FileType, { name, mediaType, bytes }), ipcBytes(FileType, r))
      }),
    ),
  )
  t.end()
})

t.test("dataset <-> image batch conversion: v/255 and back is the identity on uint8", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.uint8Array({ minLength: 4, maxLength: 4 }), (images) => {
        const b = datasetToImageBatch({ count: 1, height: 2, width: 2, channels: 1, images, labels: new Uint8Array([5]) })
        return sameBytes(imageBatchToUint8(b), images) && b.labels?.[0] === 5
      }),
    ),
  )
  const clamp = imageBatchToUint8({ count: 1, height: 1, width: 4, channels: 1, pixels: new Float32Array([-1, 2, Number.NaN, 0.5]), labels: null, meta: {} })
  t.same(Array.from(clamp), [0, 255, 0, 128])
  t.end()
})
