import t from "tap"
import fc from "fast-check"
import { composeGrid, defaultGridOptions, type GridOptions, labelRows } from "../../../src/ml/image/grid.ts"
import { decodePng, encodePng } from "../../../src/ml/image/png.ts"
import { glyphPixel, textWidth } from "../../../src/ml/image/font.ts"
import type { Raster } from "../../../src/ml/image/raster.ts"

const gray = (height: number, width: number, values: number[]): Raster => ({ height, width, channels: 1, pixels: Uint8Array.from(values) })
const opts = (o: Partial<GridOptions>): GridOptions => ({ ...defaultGridOptions, background: 9, ...o })

t.test("a 1x2 grid of pairs, exact pixels (padding, side-by-side pairs, missing item stays background)", (t) => {
  const a = gray(1, 2, [1, 2]), b = gray(1, 2, [3, 4])
  const g = composeGrid([{ images: [a, b] }], opts({ rows: 1, cols: 2, scale: 1, padding: 1 }))
  // width = 2 items * (2 images * 2 px) + 3 paddings
  t.same([g.height, g.width, g.channels], [3, 11, 1])
  t.same(Array.from(g.pixels), [
    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
    9, 1, 2, 3, 4, 9, 9, 9, 9, 9, 9,
    9, 9, 9, 9, 9, 9, 9, 9, 9, 9, 9,
  ])
  t.end()
})

t.test("scale replicates each source pixel into an s x s block; gray goes to all RGB channels", (t) => {
  const rgb: Raster = { height: 1, width: 1, channels: 3, pixels: Uint8Array.from([10, 20, 30]) }
  const g = composeGrid([{ images: [gray(1, 1, [200])] }, { images: [rgb] }], opts({ rows: 1, cols: 2, scale: 2, padding: 0 }))
  t.same([g.height, g.width, g.channels], [2, 4, 3])
  t.same(Array.from(g.pixels), [200, 200, 200, 200, 200, 200, 10, 20, 30, 10, 20, 30, 200, 200, 200, 200, 200, 200, 10, 20, 30, 10, 20, 30])
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 4 }), fc.nat(), (h, w, s, seed) => {
        const im = gray(h, w, Array.from({ length: h * w }, (_, i) => (i * 37 + seed) & 255))
        const out = composeGrid([{ images: [im] }], opts({ rows: 1, cols: 1, scale: s, padding: 0 }))
        return out.height === h * s && out.width === w * s &&
          out.pixels.every((v, i) => v === im.pixels[Math.floor(Math.floor(i / out.width) / s) * w + Math.floor((i % out.width) / s)])
      }),
    ),
  )
  t.end()
})

t.test("labels are drawn centred under each item with the bitmap font", (t) => {
  const im = gray(5, 7, new Array(35).fill(0))
  const g = composeGrid([{ images: [im], label: "7" }], opts({ rows: 1, cols: 1, scale: 1, padding: 0, labels: true, ink: 255 }))
  t.same([g.height, g.width], [5 + 7, 7])
  const left = Math.floor((7 - textWidth("7", 1)) / 2) // 2
  for (let r = 0; r < 5; r++)
    for (let c = 0; c < 3; c++) t.equal(g.pixels[(6 + r) * 7 + left + c], glyphPixel("7", r, c) ? 255 : 9, `glyph pixel ${r},${c}`)
  t.end()
})

t.test("title strip on top; text is clipped, not wrapped", (t) => {
  const g = composeGrid([{ images: [gray(1, 1, [0])] }], opts({ rows: 1, cols: 1, scale: 1, padding: 0, title: "MNIST EDGES" }))
  t.same([g.height, g.width], [8, 1])
  t.ok(g.pixels.slice(0, 7).every((v) => v === 9 || v === 255))
  t.equal(g.pixels[7], 0)
  t.end()
})

t.test("mixed image sizes are rejected", (t) => {
  t.throws(() => composeGrid([{ images: [gray(1, 1, [0]), gray(1, 2, [0, 0])] }], opts({})), { name: "RangeError" })
  t.end()
})

t.test("PNG round trip: decoding gives back the exact pixels, gray and RGB; encoding is deterministic", (t) => {
  t.doesNotThrow(() =>
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 20 }), fc.integer({ min: 1, max: 20 }), fc.constantFrom<1 | 3>(1, 3), fc.nat(), (h, w, ch, seed) => {
        const r: Raster = { height: h, width: w, channels: ch, pixels: Uint8Array.from({ length: h * w * ch }, (_, i) => (i * 131 + seed * 7) & 255) }
        const png = encodePng(r)
        const back = decodePng(png, ch)
        const again = encodePng({ ...r, pixels: r.pixels.slice() })
        return png[25] === (ch === 1 ? 0 : 2) && // IHDR colour type: 0 gray, 2 RGB
          back.height === h && back.width === w && back.pixels.every((v, i) => v === r.pixels[i]) &&
          again.length === png.length && again.every((v, i) => v === png[i])
      }),
    ),
  )
  t.end()
})

t.test("labelRows: every row one class, ascending; each class's first items in order; cells = rows x cols", (t) => {
  t.doesNotThrow(() => fc.assert(fc.property(fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 40 }), fc.integer({ min: 1, max: 6 }), fc.integer({ min: 1, max: 7 }), (labels, cols, maxRows) => {
    const cells = labelRows(labels, cols, maxRows)
    const classes = [...new Set(labels)].sort((a, b) => a - b).slice(0, maxRows)
    return cells.length === classes.length * cols && classes.every((k, r) => {
      const want = labels.flatMap((l, i) => (l === k ? [i] : [])).slice(0, cols)
      return cells.slice(r * cols, (r + 1) * cols).every((c, j) => c === (want[j] ?? null))
    })
  })))
  t.end()
})
