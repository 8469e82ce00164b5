import t from "tap"
import fc from "fast-check"
import { groupsByCondition, meanPairwiseDistance } from "../../../src/ml/metrics/diversity.ts"
import { dilate, edgeF1 } from "../../../src/ml/metrics/edge-f1.ts"

/** A map from rows of '.' and '#'. */
const map = (...rows: string[]): Uint8Array => Uint8Array.from(rows.join(""), (c) => (c === "#" ? 255 : 0))

const square = map(
  "......",
  ".####.",
  ".#..#.",
  ".#..#.",
  ".####.",
  "......",
)
const close = (a: number, b: number) => Math.abs(a - b) < 1e-12

t.test("hand-made cases", (t) => {
  t.same(edgeF1(square, square, 6, 6), { precision: 1, recall: 1, f1: 1 }, "identical")
  const shifted = map(
    "......",
    "......",
    "..####",
    "..#..#",
    "..#..#",
    "..####",
  )
  t.same(edgeF1(shifted, square, 6, 6, 1), { precision: 1, recall: 1, f1: 1 }, "one pixel diagonally: inside the tolerance")
  const r0 = edgeF1(shifted, square, 6, 6, 0)
  t.ok(close(r0.precision, 2 / 12) && close(r0.recall, 2 / 12), `no tolerance: the 2 shared corners of 12 pixels (${r0.precision})`)
  const line = map("#.....", "#.....", "#.....")
  const far = map("..#...", "..#...", "..#...")
  t.same(edgeF1(far, line, 3, 6, 1), { precision: 0, recall: 0, f1: 0 }, "two pixels away: no match")
  t.same(edgeF1(far, line, 3, 6, 2), { precision: 1, recall: 1, f1: 1 }, "tolerance 2")
  // half of the square's edges plus one spurious pixel in a corner far from every edge
  const half = map(
    "......",
    ".####.",
    "......",
    "......",
    "......",
    ".....#",
  )
  const h = edgeF1(half, square, 6, 6, 0)
  t.ok(close(h.precision, 4 / 5) && close(h.recall, 4 / 12) && close(h.f1, (2 * 0.8 * (1 / 3)) / (0.8 + 1 / 3)), `P 4/5, R 4/12: ${JSON.stringify(h)}`)
  const empty = new Uint8Array(36)
  t.same(edgeF1(empty, empty, 6, 6), { precision: 1, recall: 1, f1: 1 }, "both empty")
  t.same(edgeF1(empty, square, 6, 6), { precision: 1, recall: 0, f1: 0 }, "no predicted edges")
  t.same(edgeF1(square, empty, 6, 6), { precision: 0, recall: 1, f1: 0 }, "no condition edges")
  t.throws(() => edgeF1(square, empty.subarray(1), 6, 6), /edge maps of 36 and 35 pixels/)
  t.end()
})

t.test("dilate: the (2r+1)² square, clipped at the border", (t) => {
  t.same(Array.from(dilate(map("....", ".#..", "....", "...."), 4, 4, 1)), [1, 1, 1, 0, 1, 1, 1, 0, 1, 1, 1, 0, 0, 0, 0, 0])
  t.same(Array.from(dilate(map("#..", "...", "..."), 3, 3, 1)), [1, 1, 0, 1, 1, 0, 0, 0, 0])
  t.end()
})

const maps = fc.tuple(fc.integer({ min: 1, max: 8 }), fc.integer({ min: 1, max: 8 })).chain(([h, w]) =>
  fc.tuple(fc.constant(h), fc.constant(w), fc.uint8Array({ minLength: h * w, maxLength: h * w }), fc.uint8Array({ minLength: h * w, maxLength: h * w })))

t.test("properties: swapping the maps swaps precision and recall; scores in [0, 1]; more tolerance never lowers them", (t) => {
  t.doesNotThrow(() =>
    fc.assert(fc.property(maps, fc.integer({ min: 0, max: 3 }), ([h, w, a, b], r) => {
      const ab = edgeF1(a.map((v) => v & 1), b.map((v) => v & 1), h, w, r)
      const ba = edgeF1(b.map((v) => v & 1), a.map((v) => v & 1), h, w, r)
      const wider = edgeF1(a.map((v) => v & 1), b.map((v) => v & 1), h, w, r + 1)
      return ab.precision === ba.recall && ab.recall === ba.precision && close(ab.f1, ba.f1)
        && [ab.precision, ab.recall, ab.f1].every((v) => v >= 0 && v <= 1)
        && wider.precision >= ab.precision && wider.recall >= ab.recall
    })))
  t.end()
})

t.test("diversity: mean pairwise RMS distance per condition", (t) => {
  t.same(groupsByCondition(7, 3), [[0, 3, 6], [1, 4], [2, 5]])
  t.same(groupsByCondition(2, 5), [[0], [1]])
  // two conditions, two samples each: condition 0's samples differ by 1 everywhere, condition 1's are equal
  const px = Float32Array.from([0, 0, 0.5, 0.5, 1, 1, 0.5, 0.5])
  t.equal(meanPairwiseDistance(px, 2, groupsByCondition(4, 2)), 0.5)
  // three one-pixel samples of one condition: distances 0.3, 0.4, 0.1 -> mean 0.8 / 3
  t.ok(Math.abs(meanPairwiseDistance(Float32Array.from([0, 0.3, 0.4]), 1, [[0, 1, 2]]) - 0.8 / 3) < 1e-7)
  t.throws(() => meanPairwiseDistance(px, 2, groupsByCondition(2, 2)), /at least two samples/)
  t.end()
})
