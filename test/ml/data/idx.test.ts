import t from "tap"
import fc from "fast-check"
import { Effect } from "effect"
import { gzipSync } from "node:zlib"
import { checkCounts, parseIdxImages, parseIdxLabels, writeIdx, type IdxError } from "../../../src/ml/data/idx.ts"
import { readFixture } from "./fixtures.ts"

const fail = <A>(e: Effect.Effect<A, IdxError>): IdxError => Effect.runSync(Effect.flip(e))

t.test("parses the MNIST fixture header and first pixels", (t) => {
  const imgs = Effect.runSync(parseIdxImages(readFixture("mnist-t10k-first200-images.idx3-ubyte"), "fixture"))
  t.same([imgs.count, imgs.height, imgs.width], [200, 28, 28])
  t.equal(imgs.pixels.length, 200 * 28 * 28)
  // The first t10k digit is a 7; row 7 holds the top bar of it.
  t.same(Array.from(imgs.pixels.subarray(7 * 28 + 6, 7 * 28 + 14)), [84, 185, 159, 151, 60, 36, 0, 0])
  t.end()
})

t.test("write then parse round-trips images and labels, raw and gzip", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(
        fc.nat({ max: 5 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 6 }), fc.boolean(), fc.nat(),
        (n, h, w, gz, seed) => {
          const pixels = Uint8Array.from({ length: n * h * w }, (_, i) => (i * 31 + seed) & 255)
          const labels = Uint8Array.from({ length: n }, (_, i) => (i + seed) % 10)
          const imgs = Effect.runSync(parseIdxImages(writeIdx([n, h, w], pixels, gz), "x"))
          const labs = Effect.runSync(parseIdxLabels(writeIdx([n], labels, gz), "y"))
          return imgs.count === n && imgs.height === h && imgs.width === w &&
            imgs.pixels.every((v, i) => v === pixels[i]) && labs.every((v, i) => v === labels[i])
        },
      ),
    ),
  )
  t.end()
})

t.test("gzip is detected by magic, whatever the level", (t) => {
  const raw = writeIdx([2], new Uint8Array([4, 2]))
  t.same(Array.from(Effect.runSync(parseIdxLabels(new Uint8Array(gzipSync(raw, { level: 1 })), "l.gz"))), [4, 2])
  t.end()
})

t.test("truncated file: names the file, expected and found sizes", (t) => {
  const full = writeIdx([3, 2, 2], new Uint8Array(12))
  const e = fail(parseIdxImages(full.subarray(0, full.length - 5), "train-images-idx3-ubyte"))
  t.equal(e._tag, "IdxError")
  t.equal(e.file, "train-images-idx3-ubyte")
  t.equal(e.expected, "28 bytes (header 16 + 3x2x2 ubyte)")
  t.equal(e.found, "23 (truncated)")
  t.match(e.message, /^train-images-idx3-ubyte: expected 28 bytes .*found 23 \(truncated\)$/)
  const extra = fail(parseIdxLabels(new Uint8Array([...writeIdx([1], new Uint8Array([1])), 0]), "l"))
  t.equal(extra.found, "10 (trailing bytes)")
  t.equal(fail(parseIdxImages(full.subarray(0, 10), "f")).expected, "a 16-byte header")
  t.equal(fail(parseIdxImages(full.subarray(0, 2), "f")).expected, "a 4-byte IDX magic number")
  t.end()
})

t.test("wrong magic, dtype and dimension count are each reported", (t) => {
  const good = writeIdx([1, 1, 1], new Uint8Array([7]))
  const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47, ...good.subarray(4)])
  t.match(fail(parseIdxImages(png, "x.png")), { expected: "magic starting 0x00 0x00", found: "0x89 0x50 (not an IDX file)" })
  const floats = good.slice()
  floats[2] = 0x0d
  t.match(fail(parseIdxImages(floats, "f")), { expected: "dtype 0x08 (ubyte)", found: "0x0d (float)" })
  // A label file (1 dim) given where images (3 dims) are expected, and vice versa.
  const labels = writeIdx([1], new Uint8Array([3]))
  t.match(fail(parseIdxImages(labels, "t10k-labels-idx1-ubyte")), { file: "t10k-labels-idx1-ubyte", expected: "3 dimension(s)", found: "1" })
  t.match(fail(parseIdxLabels(good, "img")), { expected: "1 dimension(s)", found: "3" })
  t.end()
})

t.test("corrupt gzip stream is an IdxError, not a crash", (t) => {
  const gz = writeIdx([4], new Uint8Array(4), true)
  t.match(fail(parseIdxLabels(gz.subarray(0, gz.length - 6), "labels.gz")), { file: "labels.gz", expected: "a valid gzip stream" })
  t.end()
})

t.test("image and label counts must agree", (t) => {
  const imgs = Effect.runSync(parseIdxImages(writeIdx([3, 1, 1], new Uint8Array(3)), "i"))
  const labs = Effect.runSync(parseIdxLabels(writeIdx([2], new Uint8Array(2)), "l"))
  t.match(fail(checkCounts(imgs, labs, "i", "l")), { file: "l", expected: "3 labels (one per image in i)", found: "2" })
  t.doesNotThrow(() => Effect.runSync(checkCounts(imgs, new Uint8Array(3), "i", "l")))
  t.end()
})
