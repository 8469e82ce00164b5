import t from "tap"
import { Effect } from "effect"
import cannyNode from "../../nodes/canny.ts"
import type { Dataset } from "../../src/artifacts/types.ts"
import { parseIdxImages } from "../../src/ml/data/idx.ts"
import { canny, gaussianBlur } from "../../src/ml/data/canny.ts"
import { cannyFixtures, readFixture } from "../ml/data/fixtures.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

const spec = cannyFixtures()
const input = Effect.runSync(parseIdxImages(readFixture(spec.inputs), spec.inputs))
const labels = Uint8Array.from({ length: input.count }, (_, i) => i % 10)
const dataset: Dataset = { count: input.count, height: 28, width: 28, channels: 1, images: input.pixels, labels }

t.test("defaults (100/200, L1, no blur) reproduce cv2.Canny on the fixture digits; labels pass through", async (t) => {
  const ref = Effect.runSync(parseIdxImages(readFixture("canny-opencv-100-200-l1.idx3-ubyte"), "ref"))
  const { dataset: out } = await runNode(cannyNode, { dataset }, {})
  t.same([out.count, out.height, out.width, out.channels], [200, 28, 28, 1])
  t.equal(out.images.findIndex((v, i) => v !== ref.pixels[i]), -1, "pixel-exact")
  t.same(Array.from(out.labels), Array.from(labels))
  t.end()
})

t.test("every fixture setting through the node's params", async (t) => {
  for (const f of spec.outputs) {
    const ref = Effect.runSync(parseIdxImages(readFixture(f.file), f.file))
    const { dataset: out } = await runNode(cannyNode, { dataset }, { low: f.low, high: f.high, l2gradient: f.L2gradient })
    t.equal(out.images.findIndex((v, i) => v !== ref.pixels[i]), -1, f.file)
  }
  t.end()
})

t.test("blur = Canny of the Gaussian-blurred image; multi-channel input is refused", async (t) => {
  const plain = (await runNode(cannyNode, { dataset }, {})).dataset.images
  const blurred = (await runNode(cannyNode, { dataset }, { blur: 5 })).dataset.images
  const first = canny(gaussianBlur(input.pixels.subarray(0, 784), 28, 28, 5), 28, 28, { low: 100, high: 200, l2: false })
  t.same(Array.from(blurred.subarray(0, 784)), Array.from(first))
  t.not(Array.from(blurred).join(), Array.from(plain).join(), "blur changes the edges")
  const rgb: Dataset = { ...dataset, count: 1, channels: 3, images: new Uint8Array(28 * 28 * 3), labels: new Uint8Array(1) }
  t.match((await failNode(cannyNode, { dataset: rgb }, {})).message, "canny needs single-channel images, got 3 channels")
  t.end()
})
