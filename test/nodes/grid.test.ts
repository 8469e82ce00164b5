import t from "tap"
import gridNode from "../../nodes/grid.ts"
import { datasetToImageBatch } from "../../src/artifacts/index.ts"
import type { Dataset } from "../../src/artifacts/types.ts"
import { decodePng } from "../../src/ml/image/png.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

// Six 2x3 images whose pixels are 10 * index + position, labels 0..5; "edges" are their inverses.
const dataset: Dataset = {
  count: 6, height: 2, width: 3, channels: 1,
  images: Uint8Array.from({ length: 36 }, (_, i) => 10 * Math.floor(i / 6) + (i % 6)),
  labels: Uint8Array.from([0, 1, 2, 3, 4, 5]),
}
const edges: Dataset = { ...dataset, images: dataset.images.map((v) => 255 - v) }

t.test("dataset beside its comparison: pairs side by side, scaled, in row-major order", async (t) => {
  const { png } = await runNode(gridNode, { dataset, compare: edges }, { rows: 2, cols: 2, scale: 2, padding: 1 })
  t.same([png.name, png.mediaType], ["grid.png", "image/png"])
  const img = decodePng(png.bytes, 1)
  // width = 2 items * (2 images * 3 px * 2) + 3 paddings; height = 2 * (2 px * 2) + 3 paddings
  t.same([img.width, img.height], [27, 11])
  const at = (y: number, x: number) => img.pixels[y * img.width + x]
  for (let item = 0; item < 4; item++) {
    const top = 1 + Math.floor(item / 2) * 5, left = 1 + (item % 2) * 13
    const wrong: string[] = []
    for (let y = 0; y < 4; y++)
      for (let x = 0; x < 6; x++) {
        const src = item * 6 + Math.floor(y / 2) * 3 + Math.floor(x / 2)
        if (at(top + y, left + x) !== dataset.images[src]) wrong.push(`original ${y},${x}`)
        if (at(top + y, left + 6 + x) !== edges.images[src]) wrong.push(`edges ${y},${x}`)
      }
    t.same(wrong, [], `item ${item}: every pixel in place`)
  }
  t.equal(at(0, 0), 96, "padding is background")
  t.end()
})

t.test("image batches go through the same path (float [0, 1] -> uint8); labels add a strip", async (t) => {
  const { png } = await runNode(gridNode, { images: datasetToImageBatch(dataset) }, { rows: 1, cols: 3, scale: 1, padding: 0, labels: true })
  const img = decodePng(png.bytes, 1)
  t.same([img.width, img.height], [9, 2 + 7])
  t.same(Array.from(img.pixels.subarray(0, 9)), [0, 1, 2, 10, 11, 12, 20, 21, 22])
  t.ok(img.pixels.subarray(2 * 9).some((v) => v === 255), "label ink present")
  t.end()
})

t.test("the PNG is deterministic (cacheable)", async (t) => {
  const a = (await runNode(gridNode, { dataset }, { title: "MNIST" })).png.bytes
  const b = (await runNode(gridNode, { dataset: { ...dataset, images: dataset.images.slice() } }, { title: "MNIST" })).png.bytes
  t.same(Buffer.from(a), Buffer.from(b))
  t.end()
})

t.test("wiring mistakes are NodeErrors that say what to connect", async (t) => {
  t.match((await failNode(gridNode, {}, {})).message, "connect a dataset or an images input")
  t.match((await failNode(gridNode, { dataset, images: datasetToImageBatch(dataset) }, {})).message, "connect at most one of dataset / images input, got dataset and images")
  const small: Dataset = { ...dataset, count: 1, width: 2, images: new Uint8Array(4), labels: new Uint8Array(1) }
  t.match((await failNode(gridNode, { dataset, compare: small }, {})).message, "compare images are 2x2, dataset images 2x3")
  const few: Dataset = { ...dataset, count: 2, images: dataset.images.slice(0, 12), labels: dataset.labels.slice(0, 2) }
  t.match((await failNode(gridNode, { dataset, compare: few }, {})).message, "compare has 2 images, fewer than the 6 shown")
  t.end()
})

t.test("order by-label: one row per class (ascending), its first cols items, empty cells where a class runs short", async (t) => {
  const mixed: Dataset = { ...dataset, labels: Uint8Array.from([2, 0, 2, 2, 0, 5]) }
  const { png } = await runNode(gridNode, { dataset: mixed }, { rows: 10, cols: 2, scale: 1, padding: 0, order: "by-label" })
  const img = decodePng(png.bytes, 1)
  t.same([img.width, img.height], [6, 3 * 2], "3 classes -> 3 rows of 2 items")
  const first = (row: number, col: number) => img.pixels[row * 2 * 6 + col * 3] // top-left pixel of a cell = 10 * item index
  t.same([first(0, 0), first(0, 1), first(1, 0), first(1, 1), first(2, 0), first(2, 1)], [10, 40, 0, 20, 50, 96], "rows 0: items 1, 4; 2: items 0, 2; 5: item 5, then background")
  const capped = decodePng((await runNode(gridNode, { dataset: mixed }, { rows: 2, cols: 2, scale: 1, padding: 0, order: "by-label" })).png.bytes, 1)
  t.equal(capped.height, 4, "at most `rows` classes")
  const unlabelled = { ...datasetToImageBatch(dataset), labels: null }
  t.match((await failNode(gridNode, { images: unlabelled }, { order: "by-label" })).message, "order by-label: the images carry no labels")
  t.end()
})
