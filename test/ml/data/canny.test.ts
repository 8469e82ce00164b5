import t from "tap"
import fc from "fast-check"
import { Effect } from "effect"
import { canny, cannyThresholds, gaussianBlur, nmsSector, sobel3 } from "../../../src/ml/data/canny.ts"
import { parseIdxImages } from "../../../src/ml/data/idx.ts"
import { cannyFixtures, readFixture } from "./fixtures.ts"

t.test("agrees with OpenCV 4.6 cv2.Canny on 200 MNIST digits, every fixture setting", (t) => {
  const spec = cannyFixtures()
  const input = Effect.runSync(parseIdxImages(readFixture(spec.inputs), spec.inputs))
  const size = input.height * input.width
  for (const f of spec.outputs) {
    const ref = Effect.runSync(parseIdxImages(readFixture(f.file), f.file))
    let mismatches = 0
    let edges = 0
    for (let i = 0; i < input.count; i++) {
      const out = canny(input.pixels.subarray(i * size, (i + 1) * size), input.height, input.width, {
        low: f.low, high: f.high, l2: f.L2gradient,
      })
      out.forEach((v, j) => {
        if (v !== ref.pixels[i * size + j]) mismatches++
        if (v === 255) edges++
      })
    }
    const total = input.count * size
    const agreement = 1 - mismatches / total
    t.comment(`${f.file}: agreement ${(100 * agreement).toFixed(4)}% (${mismatches} of ${total} pixels differ)`)
    t.ok(agreement >= 0.99, `${f.file}: >= 99% agreement`)
    t.equal(mismatches, 0, `${f.file}: pixel-exact`)
    t.equal(edges / total, f.edge_fraction, `${f.file}: edge fraction as recorded by OpenCV`)
  }
  t.end()
})

t.test("Sobel and thresholds on known values", (t) => {
  // A vertical step 0 | 100: dx = 1*100 + 2*100 + 1*100 at the boundary columns, replicated at the border.
  const img = Uint8Array.from([0, 0, 100, 100, 0, 0, 100, 100, 0, 0, 100, 100])
  const { dx, dy } = sobel3(img, 3, 4)
  t.same(Array.from(dx), [0, 400, 400, 0, 0, 400, 400, 0, 0, 400, 400, 0])
  t.same(Array.from(dy), new Array(12).fill(0))
  t.same(cannyThresholds({ low: 200, high: 100, l2: false }), { low: 100, high: 200 }) // swapped, as OpenCV
  t.same(cannyThresholds({ low: 50.5, high: 150, l2: true }), { low: 2550, high: 22500 }) // floor(50.5^2)
  t.same(cannyThresholds({ low: 1e6, high: 1e6, l2: true }), { low: 32767 ** 2, high: 32767 ** 2 })
  t.end()
})

t.test("a vertical step gives one edge column (the > / >= tie-break keeps the left of two equal maxima)", (t) => {
  const img = new Uint8Array(5 * 6)
  for (let r = 0; r < 5; r++) for (let c = 3; c < 6; c++) img[r * 6 + c] = 200
  const out = canny(img, 5, 6, { low: 100, high: 200, l2: false })
  for (let r = 0; r < 5; r++) t.same(Array.from(out.subarray(r * 6, r * 6 + 6)), [0, 0, 255, 0, 0, 0], `row ${r}`)
  t.end()
})

t.test("NMS sectors are symmetric under swapping dx and dy for every int16 Sobel output", (t) => {
  const swap = { horizontal: "vertical", vertical: "horizontal", diagonal: "diagonal" } as const
  let asymmetric = 0
  for (let a = 0; a <= 1020; a++) for (let b = 0; b <= 1020; b++) if (swap[nmsSector(a, b)] !== nmsSector(b, a)) asymmetric++
  t.equal(asymmetric, 0)
  t.equal(nmsSector(100, 41), "horizontal") // 0.41 < tan 22.5
  t.equal(nmsSector(100, 42), "diagonal")
  t.equal(nmsSector(100, 242), "vertical") // 2.42 > tan 67.5
  t.end()
})

const imageArb = fc
  .record({ h: fc.integer({ min: 1, max: 12 }), w: fc.integer({ min: 1, max: 12 }) })
  .chain(({ h, w }) => fc.record({ h: fc.constant(h), w: fc.constant(w), px: fc.uint8Array({ minLength: h * w, maxLength: h * w }) }))
const thresholdsArb = fc.tuple(fc.integer({ min: 0, max: 600 }), fc.integer({ min: 0, max: 600 }), fc.boolean())

t.test("properties: 0/255 output, monotone in both thresholds, constant images have no edges", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(imageArb, thresholdsArb, fc.integer({ min: 0, max: 300 }), ({ h, w, px }, [a, b, l2], extra) => {
        const low = Math.min(a, b), high = Math.max(a, b)
        const base = canny(px, h, w, { low, high, l2 })
        const higherHigh = canny(px, h, w, { low, high: high + extra, l2 })
        const higherLow = canny(px, h, w, { low: Math.min(low + extra, high), high, l2 })
        return base.every((v) => v === 0 || v === 255) &&
          higherHigh.every((v, i) => v === 0 || base[i] === 255) &&
          higherLow.every((v, i) => v === 0 || base[i] === 255)
      }),
    ),
  )
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 255 }), thresholdsArb, (h, w, v, [lo, hi, l2]) =>
        canny(new Uint8Array(h * w).fill(v), h, w, { low: lo, high: hi, l2 }).every((e) => e === 0)),
    ),
  )
  t.end()
})

t.test("properties: commutes with transposition and with inverting intensities (v -> 255 - v)", (t) => {
  const transpose = (px: Uint8Array, h: number, w: number) => Uint8Array.from({ length: h * w }, (_, i) => px[(i % h) * w + Math.floor(i / h)]!)
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(imageArb, thresholdsArb, ({ h, w, px }, [a, b, l2]) => {
        const o = { low: a, high: b, l2 }
        const base = canny(px, h, w, o)
        const viaT = transpose(canny(transpose(px, h, w), w, h, o), w, h)
        const inverted = canny(px.map((v) => 255 - v), h, w, o)
        return base.every((v, i) => v === viaT[i] && v === inverted[i])
      }),
    ),
  )
  t.end()
})

t.test("Gaussian pre-blur: known 3x3 values, constants preserved, REFLECT_101 borders", (t) => {
  const img = new Uint8Array(9)
  img[0] = 160
  // Kernel [1 2 1]^T [1 2 1] / 16. REFLECT_101 mirrors about the edge pixel (index -1 -> 1), so the
  // corner sees itself once (4/16 of 160); BORDER_REFLECT (-1 -> 0) would give 9/16 instead.
  t.same(Array.from(gaussianBlur(img, 3, 3, 3)), [40, 20, 0, 20, 10, 0, 0, 0, 0])
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 0, max: 255 }), fc.constantFrom(3, 5, 7) as fc.Arbitrary<3 | 5 | 7>, (h, w, v, k) =>
        gaussianBlur(new Uint8Array(h * w).fill(v), h, w, k).every((x) => x === v)),
    ),
  )
  t.end()
})
